"""What every router shares: weights, the route target, the provider Protocol and the errors.

A provider is PURE: `build(current, target, weights, match)` turns the object as it is now (or
None) into the object as it must be, touching only what Serinus manages on it, and
`read_weights(obj, target)` reads the split back. The thin apply side is `controller.routers.apply`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller.kube.objects import Obj, Resource
from controller.kube.ownership import MANAGED_BY, MANAGED_BY_LABEL, OwnerRef, with_owner

#: A/B matches in Flagger's format (Istio's HTTPMatchRequest):
#: `[{"headers": {"x-canary": {"exact": "insider"}}}, {"headers": {"cookie": {"regex": "..."}}}]`.
Match = Sequence[Mapping[str, Any]]


class RouterError(ValueError):
    """Base of the errors a router raises on input it cannot honour."""


class InvalidWeights(RouterError):
    """The weights do not sum to 100 or are out of range."""


class UnsupportedMatch(RouterError):
    """The provider cannot express the requested A/B match."""


class UnsupportedWeights(RouterError):
    """The provider cannot express the split (blue/green takes 0 or 100 only)."""


class UnreadableRoute(RouterError):
    """The stored object does not carry the split Serinus manages."""


class MissingSource(RouterError):
    """The object the route derives from (apex Service, the user's Ingress) does not exist."""


@dataclass(frozen=True)
class Weights:
    """The traffic split in percent; always sums to 100 (invariant I3)."""

    primary: int
    canary: int

    def __post_init__(self) -> None:
        for role, value in (("primary", self.primary), ("canary", self.canary)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidWeights(f"{role} weight must be an integer, got {value!r}")
            if not 0 <= value <= 100:
                raise InvalidWeights(f"{role} weight must be within 0..100, got {value}")
        if self.primary + self.canary != 100:
            raise InvalidWeights(f"weights must sum to 100, got primary={self.primary} canary={self.canary}")

    @classmethod
    def to_canary(cls, canary: int) -> Weights:
        """The split sending `canary` percent to the canary and the rest to the primary."""
        if isinstance(canary, bool) or not isinstance(canary, int) or not 0 <= canary <= 100:
            raise InvalidWeights(f"canary weight must be an integer within 0..100, got {canary!r}")
        return cls(100 - canary, canary)


ALL_PRIMARY = Weights(100, 0)


@dataclass(frozen=True)
class RouteTarget:
    """What a route points at, from the Canary's spec (`service`, `provider` settings)."""

    namespace: str
    service: str  # apex Service name; backends are `<service>-primary` and `<service>-canary`
    port: int
    owner: OwnerRef | None = None
    gateway_refs: tuple[Mapping[str, Any], ...] = ()  # gatewayapi parentRefs
    hosts: tuple[str, ...] = ()  # gatewayapi hostnames, istio extra hosts
    gateways: tuple[str, ...] = ()  # istio gateways
    ingress_ref: str | None = None  # nginx: the user's Ingress the canary Ingress copies
    primary_selector: Mapping[str, str] = field(default_factory=dict)  # kubernetes: primary pods
    canary_selector: Mapping[str, str] = field(default_factory=dict)  # kubernetes: target pods
    source: Mapping[str, Any] | None = None  # filled by the apply side for providers that need one

    @property
    def primary(self) -> str:
        """The primary Service's name."""
        return f"{self.service}-primary"

    @property
    def canary(self) -> str:
        """The canary Service's name."""
        return f"{self.service}-canary"

    def __post_init__(self) -> None:
        if not self.namespace or not self.service:
            raise RouterError("route target needs a namespace and a service, "
                              f"got {self.namespace!r}/{self.service!r}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise RouterError(f"route target {self.namespace}/{self.service}: port must be 1..65535, "
                              f"got {self.port!r}")


@dataclass(frozen=True)
class ObjectRef:
    """Which object a provider writes: its resource type and name (in the target's namespace)."""

    resource: Resource
    name: str


class RouteProvider(Protocol):
    """A traffic provider: pure builders of the objects that carry the split."""

    name: str

    def route_ref(self, target: RouteTarget) -> ObjectRef:
        """The object carrying the weights."""
        ...

    def source_ref(self, target: RouteTarget) -> ObjectRef | None:
        """An object the route is derived from, read by the apply side into `target.source`."""
        ...

    def build(self, current: Mapping[str, Any] | None, target: RouteTarget, weights: Weights,
              match: Match | None) -> Obj:
        """The desired route object from the current one, preserving what Serinus does not own."""
        ...

    def read_weights(self, obj: Mapping[str, Any], target: RouteTarget) -> Weights:
        """The split the object carries (raises `UnreadableRoute` when it is not ours)."""
        ...

    def auxiliary(self, target: RouteTarget) -> Sequence[ObjectRef]:
        """Further objects the route needs (Istio DestinationRules); empty for most providers."""
        ...

    def build_auxiliary(self, ref: ObjectRef, current: Mapping[str, Any] | None, target: RouteTarget) -> Obj:
        """The desired auxiliary object `ref` from its current state."""
        ...


def base_object(current: Mapping[str, Any] | None, resource: Resource, name: str, target: RouteTarget) -> Obj:
    """A deep-enough copy of `current` (or a fresh object) with our identity, label and owner set.

    Foreign labels, annotations, owner references and unknown top-level fields are kept.
    """
    obj: Obj = {k: v for k, v in (current or {}).items()}
    meta = dict(obj.get("metadata") or {})
    meta["name"] = name
    meta["namespace"] = target.namespace
    meta["labels"] = {**(meta.get("labels") or {}), MANAGED_BY_LABEL: MANAGED_BY}
    refs = with_owner(meta.get("ownerReferences"), target.owner)
    if refs:
        meta["ownerReferences"] = refs
    obj["metadata"] = meta
    obj["apiVersion"] = resource.api_version
    obj["kind"] = resource.kind
    obj["spec"] = dict(obj.get("spec") or {})
    return obj


def check_weight_value(value: Any, where: str) -> int:
    """An integer weight read from an object, or `UnreadableRoute` naming where."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnreadableRoute(f"{where}: weight {value!r} is not an integer")
    return value


def weights_from(primary: int, canary: int, where: str) -> Weights:
    """`Weights` read from an object, with the object named when they are invalid."""
    try:
        return Weights(primary, canary)
    except InvalidWeights as exc:
        raise UnreadableRoute(f"{where}: {exc}") from exc


class SingleObjectRouter:
    """Defaults for a router whose mesh object stands alone: no source object, no auxiliary objects.

    Providers override what they need (nginx reads a source Ingress; istio writes DestinationRules).
    """

    name: str

    def source_ref(self, target: RouteTarget) -> ObjectRef | None:
        """No source object."""
        return None

    def auxiliary(self, target: RouteTarget) -> Sequence[ObjectRef]:
        """No auxiliary objects."""
        return ()

    def build_auxiliary(self, ref: ObjectRef, current: Mapping[str, Any] | None, target: RouteTarget) -> Obj:
        """Never called when ``auxiliary`` is empty."""
        raise RouterError(f"{self.name} has no auxiliary object {ref.name}")

