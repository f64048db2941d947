"""Kubernetes (blue/green): the apex Service's selector switches between primary and target pods.

Without a mesh there is no split: the weights are 100/0 (the primary serves) or 0/100 (the canary
serves). Only `spec.selector` of the apex Service is Serinus's here; ports, clusterIP and everything
else belong to the Service as `controller.kube.services` (or a user) made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.kube.objects import SERVICE, Obj
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
)


class KubernetesRouter(SingleObjectRouter):
    """Pure builders for blue/green through the apex Service's selector."""

    name = "kubernetes"

    def route_ref(self, target: RouteTarget) -> ObjectRef:
        """The apex Service."""
        return ObjectRef(SERVICE, target.service)

    def _selectors(self, target: RouteTarget) -> tuple[dict[str, str], dict[str, str]]:
        if not target.primary_selector or not target.canary_selector:
            raise RouterError(f"Service {target.namespace}/{target.service}: the kubernetes provider needs "
                              "the primary and canary pod selectors")
        return dict(target.primary_selector), dict(target.canary_selector)

    def build(self, current: Mapping[str, Any] | None, target: RouteTarget, weights: Weights,
              match: Match | None) -> Obj:
        """The apex Service selecting the primary pods (100/0) or the target pods (0/100)."""
        if match:
            raise UnsupportedMatch("the kubernetes provider (blue/green) cannot route by header or cookie")
        if weights.canary not in (0, 100):
            raise UnsupportedWeights(f"the kubernetes provider switches all traffic at once; canary weight "
                                     f"{weights.canary} is neither 0 nor 100")
        if current is None:
            raise MissingSource(f"apex Service {target.namespace}/{target.service} does not exist; "
                                "ensure the Services before routing")
        primary, canary = self._selectors(target)
        obj = base_object(current, SERVICE, target.service, target)
        obj["spec"]["selector"] = canary if weights.canary == 100 else primary
        return obj

    def read_weights(self, obj: Mapping[str, Any], target: RouteTarget) -> Weights:
        """100/0 when the apex selects the primary pods, 0/100 when it selects the target pods."""
        primary, canary = self._selectors(target)
        selector = (obj.get("spec") or {}).get("selector") or {}
        if selector == primary:
            return Weights(100, 0)
        if selector == canary:
            return Weights(0, 100)
        raise UnreadableRoute(f"Service {target.namespace}/{target.service}: selector {selector} is "
                              f"neither the primary's {primary} nor the canary's {canary}")
