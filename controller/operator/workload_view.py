"""How the shell reads and writes the image of a Deployment's pod template (pure).

The Git port says which image the manifest declares for the target's container; the operator turns
that into a pod template by taking the target's template and setting that container's image, which
is exactly what the manifest change did when only the image moved (the common GitOps commit).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from controller.core.observations import WorkloadState
from controller.kube.workloads import readiness_of


class ContainerNotFound(ValueError):
    """The Deployment has no container of that name (or none at all)."""


def _containers(deployment: Mapping[str, Any]) -> list[Any]:
    spec = deployment.get("spec") or {}
    template = spec.get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    return containers if isinstance(containers, list) else []


def container_image(deployment: Mapping[str, Any], container: str = "") -> str:
    """The image of ``container`` (default: the first container), or empty when there is none."""
    for item in _containers(deployment):
        if isinstance(item, Mapping) and (not container or item.get("name") == container):
            return str(item.get("image", ""))
    return ""


def template_with_image(deployment: Mapping[str, Any], container: str, image: str) -> dict[str, Any]:
    """A copy of the Deployment's pod template with ``container``'s (default: the first) image set."""
    template = copy.deepcopy(dict((deployment.get("spec") or {}).get("template") or {}))
    containers = (template.get("spec") or {}).get("containers") or []
    for item in containers:
        if isinstance(item, dict) and (not container or item.get("name") == container):
            item["image"] = image
            return template
    meta = deployment.get("metadata") or {}
    what = f"container {container!r}" if container else "any container"
    raise ContainerNotFound(f"Deployment {meta.get('namespace', '')}/{meta.get('name', '')} has no {what}")


def workload_state(deployment: Mapping[str, Any] | None, container: str = "") -> WorkloadState:
    """The core's view of a Deployment: image, replicas, and ready with at least one available pod."""
    if deployment is None:
        return WorkloadState()
    readiness = readiness_of(deployment)
    return WorkloadState(
        exists=True,
        image=container_image(deployment, container),
        replicas=readiness.replicas,
        ready_replicas=readiness.available,
        ready=readiness.ready and readiness.available > 0,
    )
