"""Processes recorded by PID and start time, so that stopping one never hits a recycled PID.

A :class:`ProcessRecord` pairs a PID with the process's start time (field 22 of ``/proc/PID/stat``,
in clock ticks since boot). :func:`is_alive` is true only while that very process exists and is not a
zombie; :func:`stop_process` sends SIGTERM (to its own process group when it leads one), then SIGKILL
after a grace period. Nothing here looks processes up by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProcessRecord:
    """One process: its PID and its start time (``None`` when unknown)."""

    pid: int
    start: int | None = None

    @classmethod
    def of(cls, pid: int) -> ProcessRecord:
        """Record a running process now."""
        return cls(pid, start_time(pid))

    def to_json(self) -> dict[str, Any]:
        """``{"pid": N, "start": T}``."""
        return {"pid": self.pid, "start": self.start}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        """Read :meth:`to_json` back."""
        start = data.get("start")
        return cls(int(data["pid"]), int(start) if start is not None else None)


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces
    return text[text.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it does not exist."""
    fields = _stat(pid)
    return int(fields[19]) if fields is not None else None


def parent_pid(pid: int) -> int | None:
    """The parent's PID, or None if the process does not exist."""
    fields = _stat(pid)
    return int(fields[1]) if fields is not None else None


def is_alive(record: ProcessRecord) -> bool:
    """True while the recorded process runs (not a zombie, and its PID was not reused)."""
    fields = _stat(record.pid)
    if fields is None:
        return False
    if record.start is not None and int(fields[19]) != record.start:
        return False  # the PID now belongs to another process
    if fields[0] in ("Z", "X"):
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(record.pid, os.WNOHANG)  # reap it if it is our child
        return False
    return True


def descendants(pid: int) -> list[ProcessRecord]:
    """Every live process below ``pid`` (children, grandchildren, ...), found through ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = parent_pid(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found: list[ProcessRecord] = []
    queue = list(children.get(pid, []))
    while queue:
        child = queue.pop()
        record = ProcessRecord.of(child)
        if is_alive(record):
            found.append(record)
        queue.extend(children.get(child, []))
    return found


def _signal(record: ProcessRecord, sig: signal.Signals) -> None:
    if not is_alive(record):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(record.pid) == record.pid:
            os.killpg(record.pid, sig)  # it leads its own group: its helpers go too
        else:
            os.kill(record.pid, sig)


def stop_processes(records: Iterable[ProcessRecord], grace: float = 5.0) -> list[ProcessRecord]:
    """SIGTERM every live recorded process, SIGKILL any left after ``grace``; returns those signalled."""
    live = [r for r in records if is_alive(r)]
    for record in live:
        _signal(record, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(is_alive(r) for r in live):
        time.sleep(0.05)
    for record in live:
        _signal(record, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(is_alive(r) for r in live):
        time.sleep(0.05)
    return live


def stop_process(record: ProcessRecord, grace: float = 5.0) -> bool:
    """Stop one recorded process; True if it was running."""
    return bool(stop_processes([record], grace))
