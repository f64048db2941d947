"""Gateway API: an HTTPRoute whose backendRefs weights carry the split.

Serinus owns the `matches` and `backendRefs` of the rules that route to `<svc>-primary` or
`<svc>-canary`; every other rule, and fields of our rules such as filters and timeouts, are kept.
`parentRefs` and `hostnames` are ours only when the Canary declares them. Fields the Gateway API CRD
defaults (backend group/kind, parent group/kind, the `/` path match) are written explicitly, so the
object read back equals the object built and an unchanged split writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
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

HTTPROUTE = Resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute")

_MATCH_TYPES = {"exact": "Exact", "regex": "RegularExpression"}
_ROOT_PATH = {"type": "PathPrefix", "value": "/"}


def _match_values(kind: str, spec: Mapping[str, Any], where: str) -> list[dict[str, str]]:
    out = []
    for name, cond in spec.items():
        if not isinstance(cond, Mapping) or len(cond) != 1:
            raise UnsupportedMatch(f"{where}: {kind} {name!r} needs exactly one of exact/regex, got {cond!r}")
        (op, value), = cond.items()
        if op not in _MATCH_TYPES:
            raise UnsupportedMatch(f"{where}: {kind} {name!r} uses {op!r}; Gateway API supports "
                                   f"{sorted(_MATCH_TYPES)}")
        out.append({"name": str(name), "type": _MATCH_TYPES[op], "value": str(value)})
    return out


def http_route_match(match: Mapping[str, Any], index: int) -> dict[str, Any]:
    """One Flagger/Istio-style match (`headers`, `queryParams`) as a Gateway API HTTPRouteMatch."""
    where = f"analysis.match[{index}]"
    unknown = set(match) - {"headers", "queryParams"}
    if unknown:
        raise UnsupportedMatch(f"{where}: gatewayapi supports headers and queryParams, not {sorted(unknown)}")
    out: dict[str, Any] = {"path": dict(_ROOT_PATH)}
    if match.get("headers"):
        out["headers"] = _match_values("header", match["headers"], where)
    if match.get("queryParams"):
        out["queryParams"] = _match_values("query parameter", match["queryParams"], where)
    if len(out) == 1:
        raise UnsupportedMatch(f"{where}: an A/B match needs at least one header or query parameter")
    return out


class GatewayApiRouter(SingleObjectRouter):
    """Pure builders for the Gateway API HTTPRoute."""

    name = "gatewayapi"

    def route_ref(self, target: RouteTarget) -> ObjectRef:
        """The HTTPRoute is named after the apex Service."""
        return ObjectRef(HTTPROUTE, target.service)

    def _is_ours(self, rule: Mapping[str, Any], target: RouteTarget) -> bool:
        names = {b.get("name") for b in rule.get("backendRefs") or []}
        return bool(names) and names <= {target.primary, target.canary}

    def _backends(self, rule: Mapping[str, Any] | None, target: RouteTarget,
                  w: Weights) -> list[dict[str, Any]]:
        existing = {b.get("name"): b for b in (rule or {}).get("backendRefs") or []}
        out = []
        for svc, weight in ((target.primary, w.primary), (target.canary, w.canary)):
            ref = {"group": "", "kind": "Service", **existing.get(svc, {})}
            ref.update(name=svc, port=target.port, weight=weight)
            out.append(ref)
        return out

    def build(self, current: Mapping[str, Any] | None, target: RouteTarget, weights: Weights,
              match: Match | None) -> Obj:
        """The HTTPRoute routing `weights` (only requests matching `match`, when given) to the canary."""
        obj = base_object(current, HTTPROUTE, target.service, target)
        spec = obj["spec"]
        if target.gateway_refs:
            spec["parentRefs"] = [{"group": "gateway.networking.k8s.io", "kind": "Gateway", **ref}
                                  for ref in target.gateway_refs]
        elif not spec.get("parentRefs"):
            raise RouterError(f"HTTPRoute {target.namespace}/{target.service}: service.gatewayRefs is "
                              "required for the gatewayapi provider")
        if target.hosts:
            spec["hostnames"] = list(target.hosts)
        rules: list[dict[str, Any]] = [dict(r) for r in spec.get("rules") or []]
        ours = [i for i, r in enumerate(rules) if self._is_ours(r, target)]
        # Fields other than matches/backendRefs that someone set on our rule (filters, timeouts) stay.
        first = rules[ours[0]] if ours else {}
        extra = {k: v for k, v in first.items() if k not in ("matches", "backendRefs")}
        new: list[dict[str, Any]] = []
        if match:
            matches = [http_route_match(m, i) for i, m in enumerate(match)]
            new.append({**extra, "matches": matches, "backendRefs": self._backends(first, target, weights)})
            new.append({**extra, "matches": [{"path": dict(_ROOT_PATH)}],
                        "backendRefs": self._backends(first, target, ALL_PRIMARY)})
        else:
            new.append({**extra, "matches": [{"path": dict(_ROOT_PATH)}],
                        "backendRefs": self._backends(first, target, weights)})
        at = ours[0] if ours else len(rules)
        kept = [r for i, r in enumerate(rules) if i not in ours]
        spec["rules"] = kept[:at] + new + kept[at:]
        return obj

    def read_weights(self, obj: Mapping[str, Any], target: RouteTarget) -> Weights:
        """The weights of the first rule routing to our backends (the A/B rule when there is one)."""
        where = f"HTTPRoute {target.namespace}/{target.service}"
        for rule in (obj.get("spec") or {}).get("rules") or []:
            if self._is_ours(rule, target):
                found = {target.primary: 0, target.canary: 0}
                for ref in rule.get("backendRefs") or []:
                    # The Gateway API default weight is 1.
                    found[ref["name"]] += check_weight_value(ref.get("weight", 1), where)
                return weights_from(found[target.primary], found[target.canary], where)
        raise UnreadableRoute(f"{where}: no rule routes to {target.primary} or {target.canary}")
