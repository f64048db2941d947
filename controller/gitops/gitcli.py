"""Run the git CLI as a child process: scrubbed environment, hard timeout, counted by subcommand.

Every git process the adapter starts for network or write operations goes through :class:`GitRunner`,
which (1) gives git an environment built from scratch (no user or system config, no terminal prompts,
no inherited credentials), (2) starts it in its own session so that a timeout kills git *and* its
helpers (``git-remote-http``, ``ssh``), and (3) counts invocations by subcommand, which is how tests
and benchmarks show that an idle poll runs ``ls-remote`` and nothing else.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.gitops.credentials import scrub


class GitCommandError(RuntimeError):
    """A git command failed or timed out; ``stderr`` and the message are scrubbed of secrets."""

    def __init__(self, subcommand: str, returncode: int, stderr: str, *, timed_out: bool = False) -> None:
        self.subcommand = subcommand
        self.returncode = returncode
        self.stderr = stderr
        self.timed_out = timed_out
        detail = stderr.strip().splitlines()
        last = " / ".join(line.strip() for line in detail[-3:]) if detail else f"exit status {returncode}"
        super().__init__(f"git {subcommand}: {'timed out' if timed_out else last}")


@dataclass(frozen=True)
class GitOutput:
    """Decoded standard output and error of a successful git command."""

    stdout: str
    stderr: str


def subcommand_of(args: Sequence[str]) -> str:
    """The git subcommand in ``args``, skipping global options (``-C dir``, ``-c key=value``)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("-C", "-c"):
            skip = True
            continue
        if not arg.startswith("-"):
            return arg
    return "?"


class GitRunner:
    """Starts git processes; thread-safe; ``counts`` maps subcommand -> invocations so far."""

    def __init__(
        self,
        home: Path,
        *,
        git: str = "git",
        timeout: float = 30.0,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.home = home
        self.git = git
        self.timeout = timeout
        self.extra_env = dict(extra_env or {})
        self.counts: collections.Counter[str] = collections.Counter()
        self.argv_log: collections.deque[tuple[str, ...]] = collections.deque(maxlen=256)
        self._lock = threading.Lock()

    def base_env(self) -> dict[str, str]:
        """The environment every git child starts from (nothing inherited but ``PATH``)."""
        return {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": str(self.home),
            "LANG": "C",
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh",  # no ext:: or other remote helpers
            "GIT_ASKPASS": "/bin/false",
            "GIT_SSH_COMMAND": "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes",
            **self.extra_env,
        }

    def run(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        input_bytes: bytes | None = None,
        timeout: float | None = None,
        secrets: Iterable[str] = (),
    ) -> GitOutput:
        """Run ``git args``; raise :class:`GitCommandError` on a non-zero exit or on timeout."""
        subcommand = subcommand_of(args)
        argv = (self.git, *args)
        with self._lock:
            self.counts[subcommand] += 1
            self.argv_log.append(argv)
        secret_list = list(secrets)
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**self.base_env(), **(env or {})},
            start_new_session=True,  # so a timeout can kill git's helpers too
        )
        try:
            out, err = process.communicate(input_bytes, timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            _, err = process.communicate()
            raise GitCommandError(
                subcommand, -9, scrub(err.decode(errors="replace"), secret_list), timed_out=True
            ) from None
        except BaseException:
            _kill_group(process)
            process.communicate()
            raise
        stderr = scrub(err.decode(errors="replace"), secret_list)
        if process.returncode != 0:
            stdout = scrub(out.decode(errors="replace"), secret_list)
            raise GitCommandError(subcommand, process.returncode, f"{stdout}\n{stderr}".strip())
        return GitOutput(out.decode(errors="replace"), stderr)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
