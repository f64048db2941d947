"""SMI ``TrafficSplit`` -> routing model.

``spec.service`` is the apex (root) Service whose in-cluster host names the split serves;
``spec.backends[]`` name Services with relative integer weights. Backends give no port, so each must
resolve to a single known Service port. ``spec.matches`` (HTTPRouteGroup refs) are rejected.
"""

from __future__ import annotations

from collections.abc import Mapping

from sandbox.mesh.model import (
    EndpointTable,
    MeshConfigError,
    RouteMatch,
    RouteRule,
    ServicePort,
    VirtualHostRoutes,
    WeightedBackend,
    object_label,
    require_list,
    require_mapping,
    require_str,
    require_weight,
    resolve_port,
    service_domains,
)


def routes_from_trafficsplit(split: Mapping[str, object], known: EndpointTable) -> VirtualHostRoutes:
    """Translate one TrafficSplit; ``known`` gives each backend Service's port."""
    _, namespace, name = object_label(split)
    where = f"TrafficSplit {namespace}/{name}"
    spec = require_mapping(split.get("spec"), f"{where}: spec")
    root = require_str(spec.get("service"), f"{where}: spec.service")
    if spec.get("matches"):
        raise MeshConfigError(f"{where}: spec.matches (HTTPRouteGroup) is not supported by the sandbox mesh")
    backends: list[WeightedBackend] = []
    for b, raw in enumerate(require_list(spec.get("backends"), f"{where}: spec.backends")):
        bwhere = f"{where}: spec.backends[{b}]"
        entry = require_mapping(raw, bwhere)
        service = require_str(entry.get("service"), f"{bwhere}.service")
        weight_raw = entry.get("weight")
        if isinstance(weight_raw, str) and weight_raw.isdigit():
            weight_raw = int(weight_raw)
        weight = require_weight(weight_raw, f"{bwhere}.weight", 0)
        port = resolve_port(namespace, service, known, bwhere)
        backends.append(WeightedBackend(ServicePort(namespace, service, port), weight))
    if not backends:
        raise MeshConfigError(f"{where}: spec.backends must list at least one backend")
    rule = RouteRule(match=RouteMatch(), backends=tuple(backends))
    return VirtualHostRoutes(
        name=f"trafficsplit/{namespace}/{name}", domains=service_domains(root, namespace), rules=(rule,)
    )
