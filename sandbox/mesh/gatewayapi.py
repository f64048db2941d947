"""Gateway API ``HTTPRoute`` -> routing model.

Supported: ``spec.hostnames`` (none means every host), ``rules[].matches`` (path Exact/PathPrefix/
RegularExpression, headers and query params Exact/RegularExpression, method), ``rules[].backendRefs``
(Service refs with ``port`` and relative ``weight``, default 1) and ``rules[].timeouts.request``.
Rules are ordered by the Gateway API precedence (exact path, longest prefix, method, most headers,
most query params), ties keeping their order in the object.
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
)

_PATH_KINDS: dict[str, MatchKind] = {"Exact": "exact", "PathPrefix": "prefix", "RegularExpression": "regex"}
_VALUE_KINDS: dict[str, MatchKind] = {"Exact": "exact", "RegularExpression": "regex"}


def routes_from_httproute(route: Mapping[str, object], known: EndpointTable) -> VirtualHostRoutes:
    """Translate one HTTPRoute (``known`` is unused: HTTPRoute backendRefs always carry their port)."""
    _, namespace, name = object_label(route)
    where = f"HTTPRoute {namespace}/{name}"
    spec = require_mapping(route.get("spec"), f"{where}: spec")
    hostnames = tuple(
        require_str(h, f"{where}: spec.hostnames[{i}]")
        for i, h in enumerate(require_list(spec.get("hostnames"), f"{where}: spec.hostnames"))
    )
    rules: list[tuple[RouteMatch, RouteRule]] = []
    for r, raw_rule in enumerate(require_list(spec.get("rules"), f"{where}: spec.rules")):
        rwhere = f"{where}: spec.rules[{r}]"
        rule = require_mapping(raw_rule, rwhere)
        backends = tuple(
            _backend(ref, namespace, f"{rwhere}.backendRefs[{b}]")
            for b, ref in enumerate(require_list(rule.get("backendRefs"), f"{rwhere}.backendRefs"))
        )
        timeout = _timeout(rule.get("timeouts"), f"{rwhere}.timeouts")
        raw_matches = require_list(rule.get("matches"), f"{rwhere}.matches") or [{}]
        for m, raw_match in enumerate(raw_matches):
            match = _match(raw_match, f"{rwhere}.matches[{m}]")
            rules.append((match, RouteRule(match=match, backends=backends, timeout_seconds=timeout)))
    ordered = sorted(rules, key=lambda pair: _precedence(pair[0]))  # sorted() is stable: ties keep order
    return VirtualHostRoutes(
        name=f"httproute/{namespace}/{name}", domains=hostnames or ("*",), rules=tuple(r for _, r in ordered)
    )


def _precedence(match: RouteMatch) -> tuple[int, int, int, int, int]:
    exact = 0 if match.path.kind == "exact" else 1
    prefix_len = -len(match.path.value) if match.path.kind != "regex" else 0
    return (exact, prefix_len, 0 if match.method else 1, -len(match.headers), -len(match.query_params))


def _backend(raw: object, namespace: str, where: str) -> WeightedBackend:
    ref = require_mapping(raw, where)
    kind = ref.get("kind", "Service")
    group = ref.get("group", "")
    if kind != "Service" or group not in ("", "core"):
        raise MeshConfigError(f"{where}: only Service backends are supported, got {group or 'core'}/{kind}")
    port = ref.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise MeshConfigError(f"{where}.port must be a port number (HTTPRoute requires it for a Service)")
    backend = ServicePort(
        namespace=str(ref.get("namespace") or namespace),
        name=require_str(ref.get("name"), f"{where}.name"),
        port=port,
    )
    return WeightedBackend(backend=backend, weight=require_weight(ref.get("weight"), f"{where}.weight", 1))


def _match(raw: object, where: str) -> RouteMatch:
    match = require_mapping(raw, where)
    path = PathMatch()
    if match.get("path") is not None:
        raw_path = require_mapping(match["path"], f"{where}.path")
        path_type = str(raw_path.get("type", "PathPrefix"))
        if path_type not in _PATH_KINDS:
            raise MeshConfigError(f"{where}.path.type {path_type!r} is not one of {sorted(_PATH_KINDS)}")
        path = PathMatch(value=str(raw_path.get("value", "/")), kind=_PATH_KINDS[path_type])
    method = match.get("method")
    return RouteMatch(
        path=path,
        headers=_value_matches(match.get("headers"), f"{where}.headers"),
        query_params=_value_matches(match.get("queryParams"), f"{where}.queryParams"),
        method=str(method) if method else None,
    )


def _value_matches(raw: object, where: str) -> tuple[HeaderMatch, ...]:
    found = []
    for i, item in enumerate(require_list(raw, where)):
        entry = require_mapping(item, f"{where}[{i}]")
        kind = str(entry.get("type", "Exact"))
        if kind not in _VALUE_KINDS:
            raise MeshConfigError(f"{where}[{i}].type {kind!r} is not one of {sorted(_VALUE_KINDS)}")
        found.append(
            HeaderMatch(
                name=require_str(entry.get("name"), f"{where}[{i}].name"),
                value=str(entry.get("value", "")),
                kind=_VALUE_KINDS[kind],
            )
        )
    return tuple(found)


def _timeout(raw: object, where: str) -> float | None:
    if raw is None:
        return None
    request = require_mapping(raw, where).get("request")
    return None if request is None else parse_duration(str(request), f"{where}.request")
