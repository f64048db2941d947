"""Pure: Pod objects as the Deployment controller creates them and the kubelet reports them.

:func:`pod_manifest` is the Pod a replica of a Deployment becomes (name ``<deploy>-<hash>-<suffix>``,
the template's labels plus ``pod-template-hash``, an owner reference to the Deployment);
:func:`pod_status` is its ``status`` from the runner's :class:`~sandbox.workloads.ReplicaState`
(phase, ``podIP``, conditions, ``containerStatuses`` with restart counts and waiting reasons).

The sandbox runs every replica on 127.0.0.1 with a port of its own, so the Pod also carries the
annotation :data:`PORTS_ANNOTATION`: its declared container ports (numbers and names) mapped to the
ports the processes really listen on. :func:`pod_address` reads it back for the Endpoints controller.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sandbox.mesh import PodAddress
from sandbox.workloads import ReplicaState

PORTS_ANNOTATION = "sandbox.serinus.dev/ports"
DEPLOYMENT_LABEL = "sandbox.serinus.dev/deployment"
NODE_NAME = "sandbox"


def iso(timestamp: float) -> str:
    """RFC 3339 UTC with second precision, as Kubernetes writes times."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_manifest(deployment: Mapping[str, Any], state: ReplicaState) -> dict[str, Any]:
    """The Pod object (without status) for one replica of ``deployment``."""
    meta = deployment.get("metadata") or {}
    template = (deployment.get("spec") or {}).get("template") or {}
    template_meta = template.get("metadata") or {}
    labels = {**(template_meta.get("labels") or {}), "pod-template-hash": state.template_hash}
    annotations = {
        **(template_meta.get("annotations") or {}),
        PORTS_ANNOTATION: json.dumps(
            {"port": state.port, "ports": sorted(([k, v] for k, v in state.ports.items()), key=str)}
        ),
        DEPLOYMENT_LABEL: str(meta.get("name")),
    }
    spec = copy.deepcopy(template.get("spec") or {})
    spec["nodeName"] = NODE_NAME
    owner = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": state.pod_name,
            "namespace": meta.get("namespace"),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner] if meta.get("uid") else [],
        },
        "spec": spec,
    }


def pod_status(state: ReplicaState, transitions: Mapping[str, str], now_iso: str) -> dict[str, Any]:
    """The kubelet's view of one replica.

    ``transitions`` holds the last transition time per condition ``"<type>=<status>"``; a condition
    whose status is new gets ``now_iso``.
    """
    started = iso(state.created)
    ready = "True" if state.ready else "False"

    def condition(kind: str, status: str, reason: str | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "type": kind,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": transitions.get(f"{kind}={status}", now_iso),
        }
        if reason and status != "True":
            entry["reason"] = reason
        return entry

    not_ready_reason = "ContainersNotReady"
    containers = []
    for c in state.containers:
        entry: dict[str, Any] = {
            "name": c.name,
            "image": c.image,
            "imageID": f"sandbox://{c.image}",
            "ready": c.ready,
            "started": c.pid is not None,
            "restartCount": c.restarts,
        }
        if c.pid is not None:
            entry["state"] = {"running": {"startedAt": started}}
            entry["containerID"] = f"sandbox://{c.pid}"
        else:
            waiting: dict[str, Any] = {"reason": c.reason or "ContainerCreating"}
            if c.message:
                waiting["message"] = c.message
            entry["state"] = {"waiting": waiting}
        containers.append(entry)
    status: dict[str, Any] = {
        "phase": state.phase,
        "hostIP": state.ip,
        "podIP": state.ip,
        "podIPs": [{"ip": state.ip}],
        "startTime": started,
        "qosClass": "BestEffort",
        "conditions": [
            condition("PodScheduled", "True"),
            condition("Initialized", "True"),
            condition("ContainersReady", ready, not_ready_reason),
            condition("Ready", ready, not_ready_reason),
        ],
        "containerStatuses": containers,
    }
    if state.reason and not state.ready:
        status["reason"] = state.reason
    if state.message and not state.ready:
        status["message"] = state.message
    return status


def is_ready(pod: Mapping[str, Any]) -> bool:
    """True when the Pod's ``Ready`` condition is True and it is not being deleted."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pod_ports(pod: Mapping[str, Any]) -> tuple[int | None, dict[str | int, int]]:
    """The main local port and declared port (number or name) -> local port, from :data:`PORTS_ANNOTATION`."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(PORTS_ANNOTATION)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        return None, {}
    main = data.get("port")
    pairs = data.get("ports")
    ports: dict[str | int, int] = {}
    for pair in pairs if isinstance(pairs, list) else []:
        if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], int):
            key = pair[0]
            if isinstance(key, (str, int)) and not isinstance(key, bool):
                ports[key] = pair[1]
    return (main if isinstance(main, int) and not isinstance(main, bool) else None), ports


def pod_address(pod: Mapping[str, Any]) -> PodAddress | None:
    """The Endpoints controller's view of a Pod; None until it has an IP and a known port."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    main_port, ports = pod_ports(pod)
    ip = status.get("podIP")
    if not ip or main_port is None:
        return None
    return PodAddress(
        namespace=str(meta.get("namespace") or ""),
        labels=dict(meta.get("labels") or {}),
        ip=str(ip),
        main_port=main_port,
        ready=is_ready(pod),
        ports=ports,
    )


def scrape_port(pod: Mapping[str, Any]) -> int | None:
    """The port a Pod's own ``/metrics`` are scraped on: the sandbox's local port when the emulator's
    runner annotated one, else (a process node, where processes listen on their declared ports) the
    first declared container port."""
    main, _ = pod_ports(pod)
    if main is not None:
        return main
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            number = port.get("containerPort")
            if isinstance(number, int) and not isinstance(number, bool):
                return number
    return None


def owning_deployment(pod: Mapping[str, Any]) -> str:
    """The Deployment a Pod belongs to: the emulator's annotation, else its ReplicaSet's name without
    the ``pod-template-hash`` suffix (how the real Deployment controller names ReplicaSets); "" if none."""
    meta = pod.get("metadata") or {}
    annotated = (meta.get("annotations") or {}).get(DEPLOYMENT_LABEL)
    if annotated:
        return str(annotated)
    suffix = "-" + str((meta.get("labels") or {}).get("pod-template-hash", ""))
    for owner in meta.get("ownerReferences") or []:
        if owner.get("kind") == "ReplicaSet" and owner.get("controller") and suffix != "-":
            return str(owner.get("name", "")).removesuffix(suffix)
    return ""
