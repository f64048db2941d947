"""What the runner reports per replica: the facts a Pod's status is written from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ContainerState:
    """One container of a replica, as a Pod's ``status.containerStatuses`` entry would tell it."""

    name: str
    image: str
    port: int
    ready: bool
    restarts: int
    pid: int | None
    reason: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class ReplicaState:
    """One replica (a Pod): where it listens, whether it is ready, and why not."""

    pod_name: str
    deployment_key: str
    template_hash: str
    ip: str
    port: int
    """The first container's local port (the one a single-port Service targets)."""
    ports: Mapping[str | int, int]
    """Declared container ports (numbers and names) -> the local port actually listened on."""
    ready: bool
    restarts: int
    phase: str
    reason: str | None
    message: str | None
    terminating: bool
    containers: tuple[ContainerState, ...]
    created: float

    @property
    def pids(self) -> tuple[int, ...]:
        """PIDs of the running container processes."""
        return tuple(c.pid for c in self.containers if c.pid is not None)
