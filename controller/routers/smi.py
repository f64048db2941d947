"""SMI (Linkerd): a TrafficSplit of the apex Service over the primary and canary Services.

The split's `service` and `backends` are Serinus's alone: another backend would take a share of the
traffic and break the sum of 100. Labels, annotations and other fields stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.kube.objects import Obj, Resource
from controller.routers.model import (
    Match,
    ObjectRef,
    RouteTarget,
    SingleObjectRouter,
    UnreadableRoute,
    UnsupportedMatch,
    Weights,
    base_object,
    check_weight_value,
    weights_from,
)

TRAFFIC_SPLIT = Resource("split.smi-spec.io", "v1alpha2", "trafficsplits", "TrafficSplit")


class SmiRouter(SingleObjectRouter):
    """Pure builders for the SMI TrafficSplit."""

    name = "smi"

    def route_ref(self, target: RouteTarget) -> ObjectRef:
        """The TrafficSplit is named after the apex Service."""
        return ObjectRef(TRAFFIC_SPLIT, target.service)

    def build(self, current: Mapping[str, Any] | None, target: RouteTarget, weights: Weights,
              match: Match | None) -> Obj:
        """The TrafficSplit carrying `weights`; A/B matches are not expressible in v1alpha2."""
        if match:
            raise UnsupportedMatch("smi (TrafficSplit v1alpha2) cannot route by header or cookie; "
                                   "use istio, gatewayapi or nginx for A/B testing")
        obj = base_object(current, TRAFFIC_SPLIT, target.service, target)
        obj["spec"]["service"] = target.service
        obj["spec"]["backends"] = [{"service": target.primary, "weight": weights.primary},
                                   {"service": target.canary, "weight": weights.canary}]
        return obj

    def read_weights(self, obj: Mapping[str, Any], target: RouteTarget) -> Weights:
        """The weights of the primary and canary backends."""
        where = f"TrafficSplit {target.namespace}/{target.service}"
        found = {target.primary: 0, target.canary: 0}
        backends = (obj.get("spec") or {}).get("backends") or []
        for backend in backends:
            name = backend.get("service")
            if name not in found:
                raise UnreadableRoute(f"{where}: backend {name!r} is not {target.primary} or {target.canary}")
            found[name] += check_weight_value(backend.get("weight"), where)
        if not backends:
            raise UnreadableRoute(f"{where}: no backends")
        return weights_from(found[target.primary], found[target.canary], where)
