"""What a node that died leaves behind, and cleaning it up: its container processes and Pod addresses.

The node records its running container processes (PID and start time) in ``WORKDIR/processes.json``
whenever they change, and its Pod addresses in ``WORKDIR/addresses.json``
(:mod:`sandbox.node.addresses`). :func:`clean_up` stops the recorded processes that are still the
same processes (a recycled PID is left alone) and removes the recorded addresses; the node calls it
before it starts, and ``sandbox down`` can call it after a crash.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.node.addresses import Runner, release_addresses, run_command
from sandbox.processes import ProcessRecord, stop_processes

PROCESSES_FILE = "processes.json"


def record_processes(workdir: Path, processes: Mapping[str, Sequence[ProcessRecord]]) -> None:
    """Write the node's container processes (Pod key -> records), replacing the previous record."""
    path = Path(workdir) / PROCESSES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {pod: [r.to_json() for r in records] for pod, records in sorted(processes.items())}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def recorded_processes(workdir: Path) -> list[ProcessRecord]:
    """The processes last recorded in ``workdir`` (alive or not)."""
    try:
        data = json.loads((Path(workdir) / PROCESSES_FILE).read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict):
        return []
    return [ProcessRecord.from_json(r) for records in data.values() for r in records if isinstance(r, dict)]


@dataclass(frozen=True)
class CleanedUp:
    """What :func:`clean_up` stopped and removed."""

    processes: tuple[ProcessRecord, ...]
    addresses: tuple[str, ...]


def clean_up(workdir: Path, *, grace: float = 5.0, runner: Runner = run_command) -> CleanedUp:
    """Stop the recorded processes still running and remove the recorded Pod addresses."""
    stopped = stop_processes(recorded_processes(workdir), grace=grace)
    record_processes(workdir, {})
    return CleanedUp(tuple(stopped), tuple(release_addresses(workdir, runner)))
