"""The route target of a Canary, read from its spec and its target Deployment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.kube.ownership import OwnerRef
from controller.kube.workloads import canary_selector, primary_selector
from controller.routers.model import RouterError, RouteTarget


def route_target(canary: Mapping[str, Any], target: Mapping[str, Any] | None = None) -> RouteTarget:
    """The `RouteTarget` of a stored Canary (pure).

    The apex Service is `spec.service.name`, else `spec.targetRef.name`. The pod selectors (needed by
    the kubernetes provider only) come from the target Deployment when it is given.
    """
    meta = canary.get("metadata") or {}
    spec = canary.get("spec") or {}
    service = spec.get("service") or {}
    where = f"Canary {meta.get('namespace', '')}/{meta.get('name', '')}"
    name = service.get("name") or (spec.get("targetRef") or {}).get("name")
    if not name:
        raise RouterError(f"{where}: neither spec.service.name nor spec.targetRef.name is set")
    port = service.get("port")
    if isinstance(port, bool) or not isinstance(port, int):
        raise RouterError(f"{where}: spec.service.port must be an integer, got {port!r}")
    owner = OwnerRef.of(canary) if meta.get("uid") else None
    return RouteTarget(
        namespace=str(meta.get("namespace", "")),
        service=str(name),
        port=port,
        owner=owner,
        gateway_refs=tuple(dict(r) for r in service.get("gatewayRefs") or ()),
        hosts=tuple(str(h) for h in service.get("hosts") or ()),
        gateways=tuple(str(g) for g in service.get("gateways") or ()),
        ingress_ref=(spec.get("ingressRef") or {}).get("name"),
        primary_selector=primary_selector(target) if target is not None else {},
        canary_selector=canary_selector(target) if target is not None else {},
    )
