"""Istio ``VirtualService`` -> routing model.

Supported: ``spec.hosts`` (short Service names expand to their in-cluster forms), ``spec.http[]`` in
order (first match wins), ``match[]`` on ``uri``, ``headers``, ``queryParams`` (exact/prefix/regex)
and ``method``, ``route[]`` destinations (Service hosts, optional ``port.number``) with weights, and
``timeout``. Several destinations must have weights summing to 100, as Istio validates. Subsets
(DestinationRule) and non-Service hosts are rejected; ``retries``, ``headers``, ``mirror`` and
``corsPolicy`` are accepted and not enforced by the sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping

from sandbox.mesh.model import (
    EndpointTable,
    HeaderMatch,
    MatchKind,
    MeshConfigError,
    PathMatch,
    RouteMatch,
    RouteRule,
    ServicePort,
    VirtualHostRoutes,
    WeightedBackend,
    object_label,
    parse_duration,
    require_list,
    require_mapping,
    require_str,
    require_weight,
    resolve_port,
    service_domains,
)

_KINDS: dict[str, MatchKind] = {"exact": "exact", "prefix": "prefix", "regex": "regex"}


def routes_from_virtualservice(vs: Mapping[str, object], known: EndpointTable) -> VirtualHostRoutes:
    """Translate one VirtualService; ``known`` resolves destinations that give no port."""
    _, namespace, name = object_label(vs)
    where = f"VirtualService {namespace}/{name}"
    spec = require_mapping(vs.get("spec"), f"{where}: spec")
    domains: list[str] = []
    for i, raw_host in enumerate(require_list(spec.get("hosts"), f"{where}: spec.hosts")):
        host = require_str(raw_host, f"{where}: spec.hosts[{i}]")
        domains.extend(service_domains(host, namespace) if "." not in host and host != "*" else (host,))
    if not domains:
        raise MeshConfigError(f"{where}: spec.hosts must list at least one host")
    rules: list[RouteRule] = []
    for h, raw_http in enumerate(require_list(spec.get("http"), f"{where}: spec.http")):
        hwhere = f"{where}: spec.http[{h}]"
        http = require_mapping(raw_http, hwhere)
        backends = _destinations(http.get("route"), namespace, known, f"{hwhere}.route")
        timeout = http.get("timeout")
        timeout_s = None if timeout is None else parse_duration(str(timeout), f"{hwhere}.timeout")
        raw_matches = require_list(http.get("match"), f"{hwhere}.match") or [{}]
        for m, raw_match in enumerate(raw_matches):
            match = _match(raw_match, f"{hwhere}.match[{m}]")
            rules.append(RouteRule(match=match, backends=backends, timeout_seconds=timeout_s))
    return VirtualHostRoutes(
        name=f"virtualservice/{namespace}/{name}", domains=tuple(dict.fromkeys(domains)), rules=tuple(rules)
    )


def _destinations(
    raw: object, namespace: str, known: EndpointTable, where: str
) -> tuple[WeightedBackend, ...]:
    entries = require_list(raw, where)
    if not entries:
        raise MeshConfigError(f"{where} must list at least one destination")
    found: list[WeightedBackend] = []
    for d, raw_entry in enumerate(entries):
        dwhere = f"{where}[{d}]"
        entry = require_mapping(raw_entry, dwhere)
        dest = require_mapping(entry.get("destination"), f"{dwhere}.destination")
        if dest.get("subset"):
            raise MeshConfigError(
                f"{dwhere}.destination.subset: DestinationRule subsets are not supported by the "
                "sandbox mesh; route to distinct Services (e.g. podinfo-primary and podinfo-canary)"
            )
        host = require_str(dest.get("host"), f"{dwhere}.destination.host")
        svc_name, svc_ns = _service_of_host(host, namespace, f"{dwhere}.destination.host")
        raw_port = dest.get("port")
        if raw_port is None:
            port = resolve_port(svc_ns, svc_name, known, f"{dwhere}.destination")
        else:
            number = require_mapping(raw_port, f"{dwhere}.destination.port").get("number")
            if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 65536:
                raise MeshConfigError(f"{dwhere}.destination.port.number must be a port number")
            port = number
        default = 100 if len(entries) == 1 else 0
        weight = require_weight(entry.get("weight"), f"{dwhere}.weight", default)
        found.append(WeightedBackend(ServicePort(svc_ns, svc_name, port), weight))
    if len(found) > 1 and sum(wb.weight for wb in found) != 100:
        weights = [wb.weight for wb in found]
        raise MeshConfigError(f"{where}: destination weights {weights} must sum to 100")
    return tuple(found)


def _service_of_host(host: str, namespace: str, where: str) -> tuple[str, str]:
    parts = host.split(".")
    if len(parts) == 1:
        return host, namespace
    if len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"):
        return parts[0], parts[1]
    raise MeshConfigError(
        f"{where}: {host!r} is not a Service host (name, name.namespace or name.namespace.svc.*)"
    )


def _match(raw: object, where: str) -> RouteMatch:
    match = require_mapping(raw, where)
    path = PathMatch()
    if match.get("uri") is not None:
        kind, value = _string_match(match["uri"], f"{where}.uri")
        path = PathMatch(value=value, kind=kind)
    headers = _named_matches(match.get("headers"), f"{where}.headers")
    params = _named_matches(match.get("queryParams"), f"{where}.queryParams")
    method = None
    if match.get("method") is not None:
        kind, method = _string_match(match["method"], f"{where}.method")
        if kind != "exact":
            raise MeshConfigError(f"{where}.method supports only 'exact'")
    return RouteMatch(path=path, headers=headers, query_params=params, method=method)


def _named_matches(raw: object, where: str) -> tuple[HeaderMatch, ...]:
    found = []
    for name, spec in require_mapping(raw or {}, where).items():
        kind, value = _string_match(spec, f"{where}.{name}")
        found.append(HeaderMatch(name=str(name), value=value, kind=kind))
    return tuple(found)


def _string_match(raw: object, where: str) -> tuple[MatchKind, str]:
    spec = require_mapping(raw, where)
    if len(spec) != 1 or next(iter(spec)) not in _KINDS:
        raise MeshConfigError(f"{where} must have exactly one of exact, prefix, regex")
    key, value = next(iter(spec.items()))
    return _KINDS[key], str(value)
