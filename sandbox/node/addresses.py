"""Pod IPs: one address per Pod from 198.18.0.0/15, added to ``lo`` as a /32 while the Pod runs.

Why not 127.x: the real API server refuses loopback addresses in EndpointSlices and Endpoints
(``ValidateEndpointIP``), so the EndpointSlice controller could never publish such a Pod. 198.18.0.0/15
(RFC 2544, for benchmarking) is routed nowhere, so an address of it on ``lo`` is reachable from this
machine only, which is what a one-machine cluster wants.

:func:`next_address` is the pure choice; :class:`AddressBook` does the ``ip addr add``/``del`` and
records every address it added in ``WORKDIR/addresses.json`` *after* adding it, so that
:func:`release_addresses` can remove the leftovers of a node that crashed, and nothing ever removes
an address this node did not add (one that already exists - another sandbox's, or the machine's - is
skipped, never taken over).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import subprocess
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

POOL = ipaddress.IPv4Network("198.18.0.0/15")
FIRST = ipaddress.IPv4Address("198.18.0.2")
DEVICE = "lo"
STATE_FILE = "addresses.json"


class AddressError(RuntimeError):
    """An address could not be added or the pool is exhausted; the message names the command."""


@dataclass(frozen=True)
class CommandResult:
    """What one ``ip`` command answered."""

    returncode: int
    output: str


Runner = Callable[[Sequence[str]], CommandResult]
"""Runs one command (argv) and returns its exit code and combined output; replaceable in tests."""


def run_command(argv: Sequence[str]) -> CommandResult:
    """Run ``argv`` for real (an ``ip`` that cannot be found is exit code 127, as a shell says)."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return CommandResult(127, str(exc))
    return CommandResult(done.returncode, (done.stdout + done.stderr).strip())


def next_address(taken: Collection[str]) -> str | None:
    """The lowest address from 198.18.0.2 upwards that is not ``taken``; None when the pool is full.

    Addresses ending in .0 or .255 are skipped: valid as /32s, but they read like network and
    broadcast addresses in ``kubectl get pods -o wide``."""
    start = int(FIRST)
    for value in range(start, int(POOL.broadcast_address)):
        candidate = ipaddress.IPv4Address(value)
        if value & 0xFF in (0, 255):
            continue
        text = str(candidate)
        if text not in taken:
            return text
    return None


def _add_argv(address: str) -> list[str]:
    return ["ip", "addr", "add", f"{address}/32", "dev", DEVICE]


def _del_argv(address: str) -> list[str]:
    return ["ip", "addr", "del", f"{address}/32", "dev", DEVICE]


def _show_argv() -> list[str]:
    return ["ip", "-4", "-o", "addr", "show", "dev", DEVICE]


# what iproute2 answers for an address that is already there / not there (older and newer wordings)
_EXISTS = ("File exists", "Address already assigned")
_MISSING = ("Cannot assign requested address", "Address not found")


def _already_there(result: CommandResult) -> bool:
    return any(text in result.output for text in _EXISTS)


def _not_there(result: CommandResult) -> bool:
    return any(text in result.output for text in _MISSING)


def addresses_in(show_output: str) -> set[str]:
    """The IPv4 addresses in the output of ``ip -4 -o addr show``."""
    found = set()
    for line in show_output.splitlines():
        fields = line.split()
        if "inet" in fields and fields.index("inet") + 1 < len(fields):
            found.add(fields[fields.index("inet") + 1].split("/")[0])
    return found


def _read_state(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [str(a) for a in data.get("addresses") or []] if isinstance(data, dict) else []


def _write_state(path: Path, addresses: Collection[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"device": DEVICE, "addresses": sorted(addresses)}, indent=2) + "\n")
    os.replace(tmp, path)


class AddressBook:
    """The Pod addresses this node added to ``lo``, persisted in ``WORKDIR/addresses.json``."""

    def __init__(self, workdir: Path, runner: Runner = run_command) -> None:
        self.path = Path(workdir) / STATE_FILE
        self._run = runner
        self._lock = threading.Lock()
        self._mine: set[str] = set(_read_state(self.path))
        self._refused: set[str] = set()  # existed already (someone else's): never ours

    def reload(self) -> None:
        """Read the state file again (after :func:`release_addresses` cleaned it up)."""
        with self._lock:
            self._mine = set(_read_state(self.path))

    def owned(self) -> set[str]:
        """The addresses this node added and has not removed."""
        with self._lock:
            return set(self._mine)

    def acquire(self, in_use: Collection[str] = ()) -> str:
        """Add the next free address to ``lo`` and return it; AddressError naming the failing command.

        ``in_use`` are addresses the caller already hands out (kept, for example, by a terminal Pod's
        status); an address that turns out to exist already belongs to someone else and is skipped."""
        with self._lock:
            while True:
                address = next_address(self._mine | self._refused | set(in_use))
                if address is None:
                    raise AddressError(f"the Pod address pool {POOL} is exhausted")
                argv = _add_argv(address)
                result = self._run(argv)
                if result.returncode == 0:
                    self._mine.add(address)
                    _write_state(self.path, self._mine)
                    log.info("added Pod address %s to %s", address, DEVICE)
                    return address
                if _already_there(result) or self._present(address):
                    self._refused.add(address)  # someone else's: never ours, never removed
                    continue
                raise AddressError(
                    f"cannot add the Pod address: `{' '.join(argv)}` failed with exit code "
                    f"{result.returncode}: {result.output or 'no output'} (the process node needs root "
                    "or CAP_NET_ADMIN to add Pod addresses to lo)"
                )

    def _present(self, address: str) -> bool:
        """Whether ``address`` is on ``lo`` (for an ``ip`` whose wording for "exists" is unknown)."""
        shown = self._run(_show_argv())
        return shown.returncode == 0 and address in addresses_in(shown.output)

    def release(self, address: str) -> None:
        """Remove one address this node added (an address it did not add is left alone)."""
        with self._lock:
            if address not in self._mine:
                return
            result = self._run(_del_argv(address))
            if result.returncode != 0 and not _not_there(result):
                log.error("`%s` failed: %s", " ".join(_del_argv(address)), result.output)
                return  # kept in the state file, so a later cleanup tries again
            self._mine.discard(address)
            _write_state(self.path, self._mine)
            log.info("removed Pod address %s from %s", address, DEVICE)

    def release_all(self) -> None:
        """Remove every address this node added."""
        for address in sorted(self.owned()):
            self.release(address)


def release_addresses(workdir: Path, runner: Runner = run_command) -> list[str]:
    """Remove the addresses a node in ``workdir`` added and did not remove (it crashed); those removed."""
    book = AddressBook(workdir, runner)
    leftovers = sorted(book.owned())
    book.release_all()
    return [a for a in leftovers if a not in book.owned()]
