"""NGINX ingress: a canary copy of the user's Ingress, weighted by annotations.

The canary Ingress `<ingress>-canary` copies the user's Ingress (`ingress_ref`) with every backend
that routes to the apex Service pointed at `<svc>-canary`, and carries the ingress-nginx canary
annotations. For A/B, matching requests (one header and/or one cookie) go to the canary when its
weight is 100 and nowhere else when 0: ingress-nginx cannot split matched traffic by weight.
A cookie match `{"cookie": {"exact": NAME}}` routes requests whose cookie NAME is `always`
(ingress-nginx's `canary-by-cookie` semantics).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from controller.kube.objects import INGRESS, Obj
from controller.kube.ownership import without_gitops_keys
from controller.routers.model import (
    Match,
    MissingSource,
    ObjectRef,
    RouterError,
    RouteTarget,
    SingleObjectRouter,
    UnreadableRoute,
    UnsupportedMatch,
    UnsupportedWeights,
    Weights,
    base_object,
    weights_from,
)

PREFIX = "nginx.ingress.kubernetes.io/"
CANARY = PREFIX + "canary"
WEIGHT = PREFIX + "canary-weight"
BY_HEADER = PREFIX + "canary-by-header"
BY_HEADER_VALUE = PREFIX + "canary-by-header-value"
BY_HEADER_PATTERN = PREFIX + "canary-by-header-pattern"
BY_COOKIE = PREFIX + "canary-by-cookie"
_BY = (BY_HEADER, BY_HEADER_VALUE, BY_HEADER_PATTERN, BY_COOKIE)


def match_annotations(match: Match) -> dict[str, str]:
    """ingress-nginx canary annotations for A/B matches: at most one header and one cookie."""
    out: dict[str, str] = {}
    for i, m in enumerate(match):
        where = f"analysis.match[{i}]"
        unknown = set(m) - {"headers"}
        if unknown:
            raise UnsupportedMatch(f"{where}: nginx matches headers (and the cookie header) only, "
                                   f"not {sorted(unknown)}")
        for name, cond in (m.get("headers") or {}).items():
            if not isinstance(cond, Mapping) or len(cond) != 1:
                raise UnsupportedMatch(f"{where}: header {name!r} needs exactly one of exact/regex, "
                                       f"got {cond!r}")
            (op, value), = cond.items()
            if str(name).lower() == "cookie":
                if op != "exact" or BY_COOKIE in out:
                    raise UnsupportedMatch(f"{where}: nginx supports one cookie match, given as "
                                           "{cookie: {exact: <cookie name>}}")
                out[BY_COOKIE] = str(value)
                continue
            if BY_HEADER in out:
                raise UnsupportedMatch(f"{where}: nginx supports a single header match; "
                                       f"{out[BY_HEADER]!r} and {name!r} given")
            if op not in ("exact", "regex"):
                raise UnsupportedMatch(f"{where}: header {name!r} uses {op!r}; "
                                       "nginx supports exact and regex")
            out[BY_HEADER] = str(name)
            out[BY_HEADER_VALUE if op == "exact" else BY_HEADER_PATTERN] = str(value)
    return out


def _point_at_canary(backend: dict[str, Any], target: RouteTarget) -> bool:
    svc = backend.get("service") or {}
    if svc.get("name") != target.service:
        return False
    backend["service"] = {**svc, "name": target.canary}
    return True


class NginxRouter(SingleObjectRouter):
    """Pure builders for the ingress-nginx canary Ingress."""

    name = "nginx"

    def _ingress(self, target: RouteTarget) -> str:
        if not target.ingress_ref:
            raise RouterError(f"Canary {target.namespace}/{target.service}: "
                              "the nginx provider needs ingressRef")
        return target.ingress_ref

    def route_ref(self, target: RouteTarget) -> ObjectRef:
        """The canary Ingress `<ingress>-canary`."""
        return ObjectRef(INGRESS, f"{self._ingress(target)}-canary")

    def source_ref(self, target: RouteTarget) -> ObjectRef | None:
        """The user's Ingress, which the canary Ingress copies."""
        return ObjectRef(INGRESS, self._ingress(target))

    def build(self, current: Mapping[str, Any] | None, target: RouteTarget, weights: Weights,
              match: Match | None) -> Obj:
        """The canary Ingress for `weights` (and `match`), derived from `target.source`."""
        source = target.source
        name = self.route_ref(target).name
        if source is None:
            raise MissingSource(f"Ingress {target.namespace}/{self._ingress(target)} does not exist")
        obj = base_object(current, INGRESS, name, target)
        spec = copy.deepcopy(dict(source.get("spec") or {}))
        rewired = False
        if spec.get("defaultBackend"):
            rewired |= _point_at_canary(spec["defaultBackend"], target)
        for rule in spec.get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                rewired |= _point_at_canary(path.get("backend") or {}, target)
        if not rewired:
            raise RouterError(f"Ingress {target.namespace}/{self._ingress(target)} has no backend routing to "
                              f"Service {target.service}")
        obj["spec"] = spec
        meta = obj["metadata"]
        src_notes = (source.get("metadata") or {}).get("annotations") or {}
        notes = {**(meta.get("annotations") or {}), **without_gitops_keys(src_notes)}
        notes = {k: v for k, v in notes.items() if not k.startswith(CANARY)}
        notes[CANARY] = "true"
        if match:
            if weights.canary not in (0, 100):
                raise UnsupportedWeights(f"nginx A/B routes matched requests all or nothing; "
                                         f"canary weight {weights.canary} is neither 0 nor 100")
            notes[WEIGHT] = "0"
            if weights.canary == 100:
                notes.update(match_annotations(match))
            else:
                match_annotations(match)  # still validate
        else:
            notes[WEIGHT] = str(weights.canary)
        meta["annotations"] = notes
        return obj

    def read_weights(self, obj: Mapping[str, Any], target: RouteTarget) -> Weights:
        """Weights from the canary annotations (matched routing counts as all to the canary)."""
        where = f"Ingress {target.namespace}/{(obj.get('metadata') or {}).get('name', '')}"
        notes = (obj.get("metadata") or {}).get("annotations") or {}
        if notes.get(CANARY) != "true":
            raise UnreadableRoute(f"{where}: not an ingress-nginx canary "
                                  f"(annotation {CANARY} is not \"true\")")
        if any(k in notes for k in _BY):
            return Weights(0, 100)
        raw = notes.get(WEIGHT, "0")
        try:
            canary = int(raw)
        except ValueError as exc:
            raise UnreadableRoute(f"{where}: {WEIGHT} {raw!r} is not an integer") from exc
        return weights_from(100 - canary, canary, where)
