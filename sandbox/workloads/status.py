"""Pure: a Deployment's ``status`` as the Deployment controller would write it, from the replica states."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sandbox.workloads.plan import DesiredWorkload
from sandbox.workloads.state import ReplicaState


def deployment_status(
    desired: DesiredWorkload, replicas: Sequence[ReplicaState], now_iso: str
) -> dict[str, Any]:
    """``status`` for an ``apps/v1`` Deployment: counts, ``observedGeneration`` and conditions.

    Terminating replicas are not counted, as the controller ignores Pods with a deletion timestamp.
    ``now_iso`` stamps the conditions (RFC 3339, e.g. ``2026-01-01T00:00:00Z``).
    """
    live = [r for r in replicas if not r.terminating]
    updated = [r for r in live if r.template_hash == desired.template_hash]
    ready = [r for r in live if r.ready]
    available_ok = len(ready) >= desired.replicas - desired.max_unavailable
    complete = (
        len(updated) == desired.replicas and len(live) == desired.replicas and all(r.ready for r in updated)
    )
    image_error = desired.image_error
    if complete:
        progressing = (
            "True",
            "NewReplicaSetAvailable",
            f"ReplicaSet {desired.name}-{desired.template_hash} has successfully progressed.",
        )
    elif image_error is not None:
        progressing = (
            "True",
            "ReplicaSetUpdated",
            f"ReplicaSet {desired.name}-{desired.template_hash} is progressing: {image_error}",
        )
    else:
        progressing = (
            "True",
            "ReplicaSetUpdated",
            f"ReplicaSet {desired.name}-{desired.template_hash} is progressing.",
        )
    conditions = [
        {
            "type": "Available",
            "status": "True" if available_ok else "False",
            "reason": "MinimumReplicasAvailable" if available_ok else "MinimumReplicasUnavailable",
            "message": "Deployment has minimum availability."
            if available_ok
            else "Deployment does not have minimum availability.",
            "lastUpdateTime": now_iso,
            "lastTransitionTime": now_iso,
        },
        {
            "type": "Progressing",
            "status": progressing[0],
            "reason": progressing[1],
            "message": progressing[2],
            "lastUpdateTime": now_iso,
            "lastTransitionTime": now_iso,
        },
    ]
    status: dict[str, Any] = {
        "observedGeneration": desired.generation,
        "replicas": len(live),
        "updatedReplicas": len(updated),
        "readyReplicas": len(ready),
        "availableReplicas": len(ready),
        "unavailableReplicas": max(0, desired.replicas - len(ready)),
        "conditions": conditions,
    }
    return status
