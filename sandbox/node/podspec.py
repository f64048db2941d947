"""Pure: what a bound Pod asks this node to run, read from the Pod object.

:func:`plan_pod` turns a Pod into a :class:`PodPlan`: its identity, ``restartPolicy``, termination
grace, and one :class:`ContainerPlan` per container with the command of its image from the sandbox
image table (an image the table does not know is not an exception here: the plan carries the error
and the container is reported ``ErrImagePull``), its declared ports, its readiness probe and its
environment as declared. The container's own ``command``/``args`` are ignored: the image table says
what runs. Volumes, init containers, resources and security contexts are not the node's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sandbox.config import DEFAULT_READINESS_PATH, ImageCommand, SandboxConfig

RestartPolicy = Literal["Always", "OnFailure", "Never"]
DEFAULT_GRACE_SECONDS = 30  # the API server's default terminationGracePeriodSeconds


@dataclass(frozen=True)
class ProbePlan:
    """An HTTP GET readiness probe; ``declared`` is False for the image table's default probe."""

    path: str
    port: int | str | None
    """A number, a container port name, or None for the container's own port."""
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3
    declared: bool = True


@dataclass(frozen=True)
class ContainerPort:
    """One declared ``ports[]`` entry."""

    number: int
    name: str | None = None


@dataclass(frozen=True)
class ContainerPlan:
    """One container of the Pod, to run as one local process."""

    name: str
    image: str
    command: ImageCommand | None
    image_error: str | None
    ports: tuple[ContainerPort, ...]
    probe: ProbePlan
    env: tuple[Mapping[str, Any], ...] = ()
    """The ``env`` entries as declared (resolved by :mod:`sandbox.node.env` at each start)."""

    @property
    def declared_port(self) -> int | None:
        """The first declared ``containerPort``: where the process must listen."""
        return self.ports[0].number if self.ports else None

    def probe_port(self, own_port: int) -> int | None:
        """The port the readiness probe hits (a name resolved against ``ports``); None if unknown."""
        port = self.probe.port
        if port is None:
            return own_port
        if isinstance(port, int):
            return port
        if port.isdigit():
            return int(port)
        return next((p.number for p in self.ports if p.name == port), None)


@dataclass(frozen=True)
class PodPlan:
    """What one Pod asks for."""

    namespace: str
    name: str
    uid: str
    restart_policy: RestartPolicy
    grace_seconds: float
    containers: tuple[ContainerPlan, ...]
    readiness_gates: tuple[str, ...] = ()
    generation: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"


class PodSpecError(ValueError):
    """The Pod cannot be read (no containers, a container without a name); names the field."""


def _number(value: object, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return float(value)


def _probe_plan(raw: Mapping[str, Any], command: ImageCommand | None) -> ProbePlan:
    probe = raw.get("readinessProbe")
    http = probe.get("httpGet") if isinstance(probe, Mapping) else None
    if isinstance(probe, Mapping) and isinstance(http, Mapping):
        path = http.get("path")
        port = http.get("port")
        return ProbePlan(
            path=path if isinstance(path, str) and path else "/",
            port=port if isinstance(port, (int, str)) and not isinstance(port, bool) else None,
            initial_delay=_number(probe.get("initialDelaySeconds"), 0.0),
            period=max(1.0, _number(probe.get("periodSeconds"), 10.0)),
            timeout=max(1.0, _number(probe.get("timeoutSeconds"), 1.0)),
            success_threshold=max(1, int(_number(probe.get("successThreshold"), 1))),
            failure_threshold=max(1, int(_number(probe.get("failureThreshold"), 3))),
        )
    # no HTTP probe declared (or an exec/tcp one the node cannot run): the image table's path, on the
    # container's own port, probed often, as the emulator's runner does
    path = command.readiness_path if command is not None else DEFAULT_READINESS_PATH
    return ProbePlan(path=path, port=None, period=0.5, timeout=1.0, failure_threshold=3, declared=False)


def _container_plan(raw_spec: object, config: SandboxConfig, where: str) -> ContainerPlan:
    raw, name, image, command, error = config.container(raw_spec, where, PodSpecError)
    ports = tuple(
        ContainerPort(int(p["containerPort"]), p.get("name") if isinstance(p.get("name"), str) else None)
        for p in raw.get("ports") or []
        if isinstance(p, Mapping)
        and isinstance(p.get("containerPort"), int)
        and not isinstance(p.get("containerPort"), bool)
    )
    env = tuple(e for e in raw.get("env") or [] if isinstance(e, Mapping) and isinstance(e.get("name"), str))
    return ContainerPlan(name, image, command, error, ports, _probe_plan(raw, command), env)


def plan_pod(pod: Mapping[str, Any], config: SandboxConfig) -> PodPlan:
    """Read a Pod object into a :class:`PodPlan`."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "")
    where = f"Pod {namespace}/{name}: spec.containers"
    containers_raw = spec.get("containers")
    if not isinstance(containers_raw, list) or not containers_raw:
        raise PodSpecError(f"{where} must list at least one container")
    containers = tuple(_container_plan(c, config, f"{where}[{i}]") for i, c in enumerate(containers_raw))
    policy = spec.get("restartPolicy", "Always")
    restart_policy: RestartPolicy = policy if policy in ("Always", "OnFailure", "Never") else "Always"
    grace = meta.get("deletionGracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
    gates = tuple(
        str(g["conditionType"])
        for g in spec.get("readinessGates") or []
        if isinstance(g, Mapping) and g.get("conditionType")
    )
    generation = meta.get("generation")
    return PodPlan(
        namespace=namespace,
        name=name,
        uid=str(meta.get("uid") or ""),
        restart_policy=restart_policy,
        grace_seconds=max(0.0, _number(grace, DEFAULT_GRACE_SECONDS)),
        containers=containers,
        readiness_gates=gates,
        generation=generation if isinstance(generation, int) and not isinstance(generation, bool) else None,
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
    )


def is_deleting(pod: Mapping[str, Any]) -> bool:
    """True once the API server set ``deletionTimestamp``: the node must stop the Pod and delete it."""
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))
