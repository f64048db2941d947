"""Pure: a Pod's ``status`` as the kubelet writes it, from what the node knows of its processes.

The node describes each container as a :class:`ContainerReport` (its state - running, waiting with a
reason, or terminated with an exit code - its last termination, readiness and restart count) and the
Pod as a :class:`PodReport`; :func:`pod_status` turns that into the ``status`` sent through the
``pods/status`` subresource: ``phase`` (:func:`pod_phase`, the kubelet's ``getPhase`` for Pods
without init containers), the conditions the kubelet owns (``PodReadyToStartContainers``,
``Initialized``, ``ContainersReady``, ``Ready``; ``PodScheduled`` is the scheduler's and is left
alone), ``hostIP(s)``, ``podIP(s)``, ``startTime``, ``observedGeneration`` and ``containerStatuses``.
A condition keeps its ``lastTransitionTime`` while its status stays the same, so an unchanged Pod
gives an identical status and the node writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.cluster.pods import iso
from sandbox.node.podspec import RestartPolicy

__all__ = [
    "ContainerReport",
    "PodReport",
    "Running",
    "Terminated",
    "Waiting",
    "iso",
    "pod_phase",
    "pod_status",
]


@dataclass(frozen=True)
class Running:
    """The process runs."""

    started_at: str


@dataclass(frozen=True)
class Waiting:
    """No process: why (``ContainerCreating``, ``CrashLoopBackOff``, ``ErrImagePull``, ...)."""

    reason: str
    message: str | None = None


@dataclass(frozen=True)
class Terminated:
    """The process exited."""

    exit_code: int
    reason: str
    started_at: str | None
    finished_at: str
    container_id: str | None = None
    message: str | None = None


ContainerStateReport = Running | Waiting | Terminated


@dataclass(frozen=True)
class ContainerReport:
    """One container as the kubelet reports it."""

    name: str
    image: str
    state: ContainerStateReport
    ready: bool = False
    restart_count: int = 0
    last_state: Terminated | None = None
    container_id: str | None = None


@dataclass(frozen=True)
class PodReport:
    """What the node knows about one Pod at one moment."""

    restart_policy: RestartPolicy
    containers: tuple[ContainerReport, ...]
    host_ip: str
    start_time: str
    pod_ip: str | None = None
    sandbox_ready: bool = False
    """The Pod's address is set up (the kubelet's ``PodReadyToStartContainers``)."""
    terminal: bool = False
    """The Pod is being deleted and every container has stopped: its phase becomes terminal."""
    generation: int | None = None
    readiness_gates: tuple[str, ...] = ()


def pod_phase(policy: RestartPolicy, containers: Sequence[ContainerReport], terminal: bool = False) -> str:
    """``Pending``, ``Running``, ``Succeeded`` or ``Failed``, as the kubelet's ``getPhase`` decides.

    A container waiting after it exited once counts as stopped (it is restarting), one waiting before
    its first start keeps the Pod ``Pending``."""
    running = waiting = stopped = succeeded = 0
    for container in containers:
        state = container.state
        if isinstance(state, Running):
            running += 1
        elif isinstance(state, Terminated):
            stopped += 1
            succeeded += state.exit_code == 0
        elif container.last_state is not None:
            stopped += 1
        else:
            waiting += 1
    if waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped == 0:
        return "Pending"
    if terminal:
        return "Succeeded" if stopped == succeeded else "Failed"
    if policy == "Always":
        return "Running"  # every container is restarting
    if stopped == succeeded:
        return "Succeeded"
    if policy == "OnFailure":
        return "Running"  # the failed ones restart
    return "Failed"


def _state_json(state: ContainerStateReport) -> dict[str, Any]:
    if isinstance(state, Running):
        return {"running": {"startedAt": state.started_at}}
    if isinstance(state, Waiting):
        waiting: dict[str, Any] = {"reason": state.reason}
        if state.message:
            waiting["message"] = state.message
        return {"waiting": waiting}
    terminated: dict[str, Any] = {
        "exitCode": state.exit_code,
        "reason": state.reason,
        "startedAt": state.started_at,
        "finishedAt": state.finished_at,
    }
    if state.container_id:
        terminated["containerID"] = state.container_id
    if state.message:
        terminated["message"] = state.message
    return {"terminated": terminated}


def container_status(report: ContainerReport) -> dict[str, Any]:
    """One ``containerStatuses`` entry."""
    entry: dict[str, Any] = {
        "name": report.name,
        "image": report.image,
        "imageID": f"sandbox://{report.image}",
        "ready": report.ready,
        "started": isinstance(report.state, Running),
        "restartCount": report.restart_count,
        "state": _state_json(report.state),
        "lastState": _state_json(report.last_state) if report.last_state is not None else {},
    }
    if report.container_id:
        entry["containerID"] = report.container_id
    return entry


def _unready_message(containers: Sequence[ContainerReport]) -> str | None:
    names = [c.name for c in containers if not c.ready]
    return f"containers with unready status: [{' '.join(names)}]" if names else None


def pod_status(
    report: PodReport,
    previous: Sequence[Mapping[str, Any]],
    now_iso: str,
    gates: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The kubelet's ``status`` for one Pod.

    ``previous`` are the Pod's conditions as last written (their transition times are kept while
    their status holds); ``gates`` the status of each readiness gate's condition (written by others)."""
    before = {str(c.get("type")): c for c in previous}
    phase = pod_phase(report.restart_policy, report.containers, report.terminal)
    done = phase in ("Succeeded", "Failed")

    def condition(
        kind: str, ok: bool, reason: str | None = None, message: str | None = None
    ) -> dict[str, Any]:
        status = "True" if ok else "False"
        old = before.get(kind)
        entry: dict[str, Any] = {
            "type": kind,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": (
                old.get("lastTransitionTime", now_iso) if old and old.get("status") == status else now_iso
            ),
        }
        if report.generation is not None:
            entry["observedGeneration"] = report.generation
        if not ok and reason:
            entry["reason"] = reason
        if not ok and message:
            entry["message"] = message
        return entry

    containers_ready = bool(report.containers) and all(c.ready for c in report.containers) and not done
    unready_reason = "PodCompleted" if done else "ContainersNotReady"
    unready_message = None if done else _unready_message(report.containers)
    missing_gates = [g for g in report.readiness_gates if (gates or {}).get(g) != "True"]
    if containers_ready and missing_gates:
        ready_condition = condition(
            "Ready", False, "ReadinessGatesNotReady",
            f"corresponding condition of pod readiness gate \"{missing_gates[0]}\" does not exist.",
        )  # fmt: skip
    else:
        ready_condition = condition("Ready", containers_ready, unready_reason, unready_message)
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [
            condition("PodReadyToStartContainers", report.sandbox_ready and not done),
            condition("Initialized", True),
            condition("ContainersReady", containers_ready, unready_reason, unready_message),
            ready_condition,
        ],
        "hostIP": report.host_ip,
        "hostIPs": [{"ip": report.host_ip}],
        "startTime": report.start_time,
        "containerStatuses": [container_status(c) for c in report.containers],
    }
    if report.pod_ip:
        status["podIP"] = report.pod_ip
        status["podIPs"] = [{"ip": report.pod_ip}]
    if report.generation is not None:
        status["observedGeneration"] = report.generation
    return status


def gate_statuses(pod: Mapping[str, Any], gates: Sequence[str]) -> dict[str, str]:
    """The status of each readiness gate's condition in the Pod as the API server has it."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return {str(c.get("type")): str(c.get("status")) for c in conditions if c.get("type") in gates}
