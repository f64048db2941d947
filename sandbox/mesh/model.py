"""Provider-neutral routing model the route objects are translated into before becoming Envoy config.

An HTTPRoute, VirtualService or TrafficSplit becomes one :class:`VirtualHostRoutes`: the host names it
serves and an ordered list of :class:`RouteRule` (first match wins), each sending requests to weighted
:class:`ServicePort` backends. Envoy cluster names derive from the backend alone
(:func:`cluster_name`), so clusters stay the same however weights move.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

MatchKind = Literal["exact", "prefix", "regex"]

Endpoint = tuple[str, int]
"""A ready replica's address: ``(ip, port)``."""


class MeshConfigError(ValueError):
    """A route object cannot be turned into mesh config; the message says which object and field."""


class ServicePort(NamedTuple):
    """One port of one Kubernetes Service: the unit that becomes one Envoy cluster."""

    namespace: str
    name: str
    port: int


EndpointTable = Mapping[ServicePort, Sequence[Endpoint]]
"""The ready endpoints of every Service port: ``{ServicePort: [(ip, port), ...]}`` (may be empty)."""


def cluster_name(backend: ServicePort) -> str:
    """The Envoy cluster of a Service port: ``<namespace>_<service>_<port>``, e.g. ``shop_web_80``."""
    return f"{backend.namespace}_{backend.name}_{backend.port}"


@dataclass(frozen=True)
class HeaderMatch:
    """A request header condition."""

    name: str
    value: str
    kind: MatchKind = "exact"


@dataclass(frozen=True)
class PathMatch:
    """A request path condition."""

    value: str = "/"
    kind: MatchKind = "prefix"


@dataclass(frozen=True)
class RouteMatch:
    """All conditions of one match (they must all hold)."""

    path: PathMatch = PathMatch()
    headers: tuple[HeaderMatch, ...] = ()
    query_params: tuple[HeaderMatch, ...] = ()
    method: str | None = None


@dataclass(frozen=True)
class WeightedBackend:
    """A backend and its relative weight."""

    backend: ServicePort
    weight: int


@dataclass(frozen=True)
class RouteRule:
    """Requests satisfying ``match`` go to ``backends`` in proportion to their weights."""

    match: RouteMatch
    backends: tuple[WeightedBackend, ...]
    timeout_seconds: float | None = None


@dataclass(frozen=True)
class VirtualHostRoutes:
    """The rules one route object contributes for its host names."""

    name: str
    domains: tuple[str, ...]
    rules: tuple[RouteRule, ...]

    def backends(self) -> set[ServicePort]:
        """Every backend any rule refers to."""
        return {wb.backend for rule in self.rules for wb in rule.backends}


def service_domains(name: str, namespace: str) -> tuple[str, ...]:
    """The host names a Service answers to inside a cluster: short, namespaced and fully qualified."""
    return (name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local")


def resolve_port(namespace: str, name: str, known: EndpointTable, where: str) -> int:
    """The single known port of Service ``namespace/name``, for references that give no port."""
    ports = sorted({sp.port for sp in known if sp.namespace == namespace and sp.name == name})
    if len(ports) == 1:
        return ports[0]
    if not ports:
        raise MeshConfigError(
            f"{where}: service {namespace}/{name} is not known to the mesh and the reference gives no port"
        )
    raise MeshConfigError(
        f"{where}: service {namespace}/{name} has several ports {ports}; the reference must name one"
    )


def require_mapping(value: object, where: str) -> Mapping[str, object]:
    """``value`` as a mapping, or a :class:`MeshConfigError` naming ``where``."""
    if not isinstance(value, Mapping):
        raise MeshConfigError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def require_list(value: object, where: str) -> list[object]:
    """``value`` as a list (None is empty), or a :class:`MeshConfigError` naming ``where``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MeshConfigError(f"{where} must be a list, got {type(value).__name__}")
    return value


def require_str(value: object, where: str) -> str:
    """``value`` as a non-empty string, or a :class:`MeshConfigError` naming ``where``."""
    if not isinstance(value, str) or not value:
        raise MeshConfigError(f"{where} must be a non-empty string")
    return value


def require_weight(value: object, where: str, default: int) -> int:
    """A non-negative integer weight (``default`` when absent)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MeshConfigError(f"{where} must be a non-negative integer, got {value!r}")
    return value


def object_label(obj: Mapping[str, object]) -> tuple[str, str, str]:
    """``(kind, namespace, name)`` of a Kubernetes object, for naming and error messages."""
    meta = require_mapping(obj.get("metadata", {}), "metadata")
    kind = str(obj.get("kind", "<no kind>"))
    name = require_str(meta.get("name"), f"{kind}.metadata.name")
    namespace = meta.get("namespace") or "default"
    return kind, str(namespace), name


def parse_duration(text: str, where: str) -> float:
    """Seconds in a Gateway API / Istio duration such as ``1.5s``, ``250ms``, ``1m`` or ``1h30m``."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    total, number, i = 0.0, "", 0
    if not text:
        raise MeshConfigError(f"{where}: empty duration")
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not number:
            raise MeshConfigError(f"{where}: {text!r} is not a duration like 1.5s, 250ms or 1m")
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    if number:
        raise MeshConfigError(f"{where}: {text!r} lacks a unit (s, ms, m, h)")
    return total
