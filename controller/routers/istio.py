"""Istio: a VirtualService with weighted destinations, plus DestinationRules per backend.

Serinus owns the `match` and `route` of the HTTP routes whose destinations are `<svc>-primary` or
`<svc>-canary`; other routes, and fields of our routes such as retries and timeouts, are kept.
`hosts` and `gateways` are ours when the Canary declares them (the apex Service is always a host).
The DestinationRules `<svc>-primary` and `<svc>-canary` own only `spec.host`; traffic policies a
user adds to them stay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controller.kube.objects import Obj, Resource
from controller.routers.model import (
    ALL_PRIMARY,
    Match,
    ObjectRef,
    RouterError,
    RouteTarget,
    SingleObjectRouter,
    UnreadableRoute,
    UnsupportedMatch,
    Weights,
    base_object,
    check_weight_value,
    weights_from,
)

VIRTUAL_SERVICE = Resource("networking.istio.io", "v1beta1", "virtualservices", "VirtualService")
DESTINATION_RULE = Resource("networking.istio.io", "v1beta1", "destinationrules", "DestinationRule")

# HTTPMatchRequest fields an A/B match may use (Flagger's match format is Istio's).
_MATCH_FIELDS = frozenset({"headers", "queryParams", "uri", "method", "sourceLabels", "withoutHeaders"})


def _check_match(match: Match) -> list[dict[str, Any]]:
    out = []
    for i, m in enumerate(match):
        unknown = set(m) - _MATCH_FIELDS
        if unknown:
            raise UnsupportedMatch(f"analysis.match[{i}]: istio does not support {sorted(unknown)} "
                                   f"(supported: {sorted(_MATCH_FIELDS)})")
        out.append(dict(m))
    return out


class IstioRouter(SingleObjectRouter):
    """Pure builders for Istio's VirtualService and DestinationRules."""

    name = "istio"

    def route_ref(self, target: RouteTarget) -> ObjectRef:
        """The VirtualService is named after the apex Service."""
        return ObjectRef(VIRTUAL_SERVICE, target.service)

    def auxiliary(self, target: RouteTarget) -> Sequence[ObjectRef]:
        """The DestinationRules of the primary and canary Services."""
        return (ObjectRef(DESTINATION_RULE, target.primary), ObjectRef(DESTINATION_RULE, target.canary))

    def build_auxiliary(self, ref: ObjectRef, current: Mapping[str, Any] | None, target: RouteTarget) -> Obj:
        """A DestinationRule for `ref.name`'s Service, keeping any traffic policy already on it."""
        if ref.resource != DESTINATION_RULE or ref.name not in (target.primary, target.canary):
            raise RouterError(f"istio has no auxiliary object {ref.resource.kind} {ref.name}")
        obj = base_object(current, DESTINATION_RULE, ref.name, target)
        obj["spec"]["host"] = ref.name
        return obj

    def _is_ours(self, route: Mapping[str, Any], target: RouteTarget) -> bool:
        hosts = {(d.get("destination") or {}).get("host") for d in route.get("route") or []}
        return bool(hosts) and hosts <= {target.primary, target.canary}

    def _destinations(self, target: RouteTarget, w: Weights) -> list[dict[str, Any]]:
        return [{"destination": {"host": host, "port": {"number": target.port}}, "weight": weight}
                for host, weight in ((target.primary, w.primary), (target.canary, w.canary))]

    def build(self, current: Mapping[str, Any] | None, target: RouteTarget, weights: Weights,
              match: Match | None) -> Obj:
        """The VirtualService sending `weights` (of requests matching `match`, when given) to the canary."""
        obj = base_object(current, VIRTUAL_SERVICE, target.service, target)
        spec = obj["spec"]
        if target.hosts or not spec.get("hosts"):
            spec["hosts"] = [target.service, *(h for h in target.hosts if h != target.service)]
        if target.gateways:
            spec["gateways"] = list(target.gateways)
        routes: list[dict[str, Any]] = [dict(r) for r in spec.get("http") or []]
        ours = [i for i, r in enumerate(routes) if self._is_ours(r, target)]
        extra = {k: v for k, v in (routes[ours[0]] if ours else {}).items() if k not in ("match", "route")}
        new: list[dict[str, Any]] = []
        if match:
            new.append({**extra, "match": _check_match(match), "route": self._destinations(target, weights)})
            new.append({**extra, "route": self._destinations(target, ALL_PRIMARY)})
        else:
            new.append({**extra, "route": self._destinations(target, weights)})
        at = ours[0] if ours else len(routes)
        kept = [r for i, r in enumerate(routes) if i not in ours]
        spec["http"] = kept[:at] + new + kept[at:]
        return obj

    def read_weights(self, obj: Mapping[str, Any], target: RouteTarget) -> Weights:
        """The weights of the first HTTP route to our destinations (the A/B route when there is one)."""
        where = f"VirtualService {target.namespace}/{target.service}"
        for route in (obj.get("spec") or {}).get("http") or []:
            if self._is_ours(route, target):
                found = {target.primary: 0, target.canary: 0}
                dests = route.get("route") or []
                for d in dests:
                    # Istio: a single destination without a weight takes all the traffic.
                    default = 100 if len(dests) == 1 else 0
                    found[d["destination"]["host"]] += check_weight_value(d.get("weight", default), where)
                return weights_from(found[target.primary], found[target.canary], where)
        raise UnreadableRoute(f"{where}: no HTTP route goes to {target.primary} or {target.canary}")
