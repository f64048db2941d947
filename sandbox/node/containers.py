"""One start of one container: a local process in its own session, stopped through its process group.

A :class:`ContainerProcess` is what a container runtime's container is here: ``start_new_session``
puts the process and anything it forks in a process group of its own, so :meth:`terminate` (SIGTERM)
and :meth:`kill` (SIGKILL) reach all of it, and after the main process exits :meth:`reap_group` kills
what it left behind, as removing a container's cgroup would. The process is recorded by PID and start
time (:class:`~sandbox.processes.ProcessRecord`), never found by name. Output goes to one log file per
container, appended across restarts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.processes import ProcessRecord

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def container_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment plus ``extra``, with the project importable (``{python} -m ...``)."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    return env


@dataclass
class ContainerProcess:
    """A running (or exited) container process."""

    process: subprocess.Popen[bytes]
    record: ProcessRecord
    started_wall: float
    started: float
    """Monotonic start time, for how long it ran."""

    @property
    def pid(self) -> int:
        """The main process's PID."""
        return self.process.pid

    @property
    def container_id(self) -> str:
        """The ``containerID`` the status reports: this start's PID and start time."""
        return f"sandbox://{self.record.pid}-{self.record.start or 0}"

    def poll(self) -> int | None:
        """The return code once the main process exited (reaped), else None."""
        return self.process.poll()

    def _group(self, sig: signal.Signals) -> None:
        # the group exists while any member does, and its ID cannot be reused meanwhile; once the
        # leader is reaped with no member left, killpg only finds nothing (ESRCH)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def terminate(self) -> None:
        """SIGTERM the whole process group (the kubelet's stop, before the grace period runs out)."""
        self._group(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the whole process group."""
        self._group(signal.SIGKILL)

    def reap_group(self) -> None:
        """After the main process exited: SIGKILL whatever of its group is left."""
        self._group(signal.SIGKILL)

    def stop(self, grace: float) -> int:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; the return code."""
        if self.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout=max(0.0, grace))
            except subprocess.TimeoutExpired:
                self.kill()
                self.process.wait()
        self.reap_group()
        return self.process.returncode


def start_container(
    argv: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path
) -> ContainerProcess:
    """Start one container process; OSError if it cannot be started (the kubelet's RunContainerError)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    return ContainerProcess(process, ProcessRecord.of(process.pid), time.time(), time.monotonic())
