"""Pure workload planning: what a Deployment asks for, and the next rollout step towards it.

:func:`workload_from_deployment` reads a Deployment object into a :class:`DesiredWorkload` (replicas,
pod template hash, one :class:`ContainerPlan` per container with the command from the sandbox image
table, rollout strategy). An image missing from the table is not an exception here: the container
plan carries the error, and the runner reports its pods as the kubelet reports ``ErrImagePull``.

:func:`plan_rollout` is the Deployment controller's decision for one step, given the replicas that
exist: start replicas of the current template within ``maxSurge``, and take replicas out of service
(old template, or surplus) while at least ``replicas - maxUnavailable`` stay ready. ``Recreate``
takes every old replica out first and starts new ones only once the old are gone.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sandbox.config import DEFAULT_READINESS_PATH, ImageCommand, SandboxConfig

# the alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alikes)
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class WorkloadSpecError(ValueError):
    """The Deployment cannot be planned; the message names the field."""


@dataclass(frozen=True)
class ContainerPlan:
    """One container to run as one local process."""

    name: str
    image: str
    command: ImageCommand | None
    image_error: str | None
    readiness_path: str
    port_names: tuple[str | int, ...]
    """The container's declared ports (numbers and names); all map to the process's one local port."""


@dataclass(frozen=True)
class DesiredWorkload:
    """What one Deployment asks for."""

    key: str
    name: str
    replicas: int
    template_hash: str
    containers: tuple[ContainerPlan, ...]
    max_surge: int
    max_unavailable: int
    strategy: Literal["RollingUpdate", "Recreate"] = "RollingUpdate"
    generation: int = 0

    @property
    def image_error(self) -> str | None:
        """The first container's image error, if any container's image cannot run."""
        return next((c.image_error for c in self.containers if c.image_error), None)


@dataclass(frozen=True)
class ReplicaView:
    """What planning needs to know about an existing replica."""

    pod_name: str
    template_hash: str
    ready: bool
    terminating: bool = False
    created: float = 0.0


@dataclass(frozen=True)
class StartReplica:
    """Create one replica of the current template."""

    template_hash: str


@dataclass(frozen=True)
class TerminateReplica:
    """Take a replica out of service (it leaves the endpoints, then is stopped after a drain)."""

    pod_name: str


Action = StartReplica | TerminateReplica


def pod_template_hash(template: Mapping[str, Any]) -> str:
    """A stable 10-character hash of a pod template, in the Kubernetes name alphabet."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True, default=str).encode()).digest()
    return "".join(NAME_ALPHABET[b % len(NAME_ALPHABET)] for b in digest[:10])


def _int_or_percent(value: object, replicas: int, round_up: bool, where: str) -> int:
    if isinstance(value, bool):
        raise WorkloadSpecError(f"{where} must be an integer or a percentage, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise WorkloadSpecError(f"{where} must not be negative, got {value}")
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        scaled = replicas * int(value[:-1]) / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    raise WorkloadSpecError(f"{where} must be an integer or a percentage like '25%', got {value!r}")


def workload_from_deployment(deployment: Mapping[str, Any], config: SandboxConfig) -> DesiredWorkload:
    """Read an ``apps/v1`` Deployment into a :class:`DesiredWorkload`."""
    meta = deployment.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise WorkloadSpecError("Deployment metadata.name is missing")
    namespace = str(meta.get("namespace") or "default")
    where = f"Deployment {namespace}/{name}"
    spec = deployment.get("spec")
    if not isinstance(spec, Mapping):
        raise WorkloadSpecError(f"{where}: spec is missing")
    replicas = spec.get("replicas", 1)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise WorkloadSpecError(f"{where}: spec.replicas must be a non-negative integer, got {replicas!r}")
    template = spec.get("template")
    if not isinstance(template, Mapping):
        raise WorkloadSpecError(f"{where}: spec.template is missing")
    pod_spec = template.get("spec") or {}
    containers_raw = pod_spec.get("containers") if isinstance(pod_spec, Mapping) else None
    if not isinstance(containers_raw, list) or not containers_raw:
        raise WorkloadSpecError(f"{where}: spec.template.spec.containers must list at least one container")
    containers = tuple(
        _container_plan(c, config, f"{where}: spec.template.spec.containers[{i}]")
        for i, c in enumerate(containers_raw)
    )
    strategy = spec.get("strategy") or {}
    kind = strategy.get("type", "RollingUpdate")
    if kind not in ("RollingUpdate", "Recreate"):
        raise WorkloadSpecError(
            f"{where}: spec.strategy.type must be RollingUpdate or Recreate, got {kind!r}"
        )
    rolling = strategy.get("rollingUpdate") or {}
    surge = _int_or_percent(rolling.get("maxSurge", "25%"), replicas, True, f"{where}: maxSurge")
    unavailable = _int_or_percent(
        rolling.get("maxUnavailable", "25%"), replicas, False, f"{where}: maxUnavailable"
    )
    if surge == 0 and unavailable == 0:
        # the API server refuses only literal zeros; percentages rounding to 0 (e.g. of 0 replicas) are fine
        if all(rolling.get(k, "25%") in (0, "0", "0%") for k in ("maxSurge", "maxUnavailable")):
            raise WorkloadSpecError(f"{where}: maxSurge and maxUnavailable cannot both be 0")
        surge = 1  # percentages of a small replica count round to 0/0; keep the rollout moving
    return DesiredWorkload(
        key=f"{namespace}/{name}",
        name=name,
        replicas=replicas,
        template_hash=pod_template_hash(template),
        containers=containers,
        max_surge=surge,
        max_unavailable=unavailable,
        strategy=kind,
        generation=int(meta.get("generation") or 0),
    )


def _container_plan(raw_spec: object, config: SandboxConfig, where: str) -> ContainerPlan:
    raw, name, image, command, error = config.container(raw_spec, where, WorkloadSpecError)
    probe = ((raw.get("readinessProbe") or {}).get("httpGet") or {}).get("path")
    readiness = probe if isinstance(probe, str) and probe else None
    if readiness is None:
        readiness = command.readiness_path if command else DEFAULT_READINESS_PATH
    port_names: list[str | int] = []
    for port in raw.get("ports") or []:
        if isinstance(port, Mapping):
            if isinstance(port.get("containerPort"), int):
                port_names.append(int(port["containerPort"]))
            if isinstance(port.get("name"), str):
                port_names.append(str(port["name"]))
    return ContainerPlan(name, image, command, error, readiness, tuple(port_names))


def plan_rollout(desired: DesiredWorkload, replicas: Sequence[ReplicaView]) -> list[Action]:
    """The next step towards ``desired`` given the existing replicas (terminating ones included)."""
    target = desired.replicas
    live = [r for r in replicas if not r.terminating]
    new = [r for r in live if r.template_hash == desired.template_hash]
    old = [r for r in live if r.template_hash != desired.template_hash]
    actions: list[Action] = []

    if desired.strategy == "Recreate":
        if old:
            return [TerminateReplica(r.pod_name) for r in old]
        if any(r.terminating and r.template_hash != desired.template_hash for r in replicas):
            return []  # wait until the old replicas are gone
        room = target - len(new)
    else:
        room = min(target - len(new), target + desired.max_surge - len(live))
    actions.extend(StartReplica(desired.template_hash) for _ in range(max(0, room)))

    # surplus of the current template: not-ready first, then the newest, as the ReplicaSet controller does
    surplus = len(new) - target
    if surplus > 0:
        doomed = sorted(new, key=lambda r: (r.ready, -r.created))[:surplus]
        actions.extend(TerminateReplica(r.pod_name) for r in doomed)
        new = [r for r in new if r not in doomed]

    available = sum(r.ready for r in new) + sum(r.ready for r in old)
    min_available = max(0, target - desired.max_unavailable)
    for replica in sorted(old, key=lambda r: r.ready):
        if not replica.ready:
            actions.append(TerminateReplica(replica.pod_name))
        elif available - 1 >= min_available:
            actions.append(TerminateReplica(replica.pod_name))
            available -= 1
    return actions
