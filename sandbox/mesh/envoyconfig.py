"""Pure builders: route objects and endpoints -> Envoy v3 resources and file-based xDS documents.

Layout of the generated config (all JSON files under one directory, watched by Envoy):

- bootstrap: admin, ``lds_config`` and ``cds_config`` from files (``lds.json``, ``cds.json``);
- one listener ``sandbox`` (never rewritten after start) whose HTTP connection manager takes its
  routes by RDS from ``rds.json`` (route configuration ``sandbox``), so weight changes touch routes only;
- one EDS cluster per Service port, named by :func:`sandbox.mesh.model.cluster_name`, whose endpoints
  come from ``eds/<cluster>.json``, so replicas come and go without changing the cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox.mesh.gatewayapi import routes_from_httproute
from sandbox.mesh.istio import routes_from_virtualservice
from sandbox.mesh.model import (
    Endpoint,
    EndpointTable,
    HeaderMatch,
    MeshConfigError,
    PathMatch,
    RouteRule,
    ServicePort,
    VirtualHostRoutes,
    cluster_name,
)
from sandbox.mesh.smi import routes_from_trafficsplit

ROUTE_CONFIG_NAME = "sandbox"
LISTENER_NAME = "sandbox"
STAT_PREFIX = "sandbox"
TYPE_LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
TYPE_CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
TYPE_ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
TYPE_ENDPOINTS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
# Connection-level retries, as a mesh's sidecars do by default: a request that met a closing
# connection of a replica being replaced is retried instead of failing. HTTP 5xx is never retried,
# so the application's own error rate is what the metrics see.
_RETRY_POLICY = {"retry_on": "connect-failure,reset,refused-stream", "num_retries": 2}

RouteBuilder = Callable[[Mapping[str, object], EndpointTable], VirtualHostRoutes]

ROUTE_BUILDERS: dict[str, RouteBuilder] = {
    "gateway.networking.k8s.io/HTTPRoute": routes_from_httproute,
    "networking.istio.io/VirtualService": routes_from_virtualservice,
    "split.smi-spec.io/TrafficSplit": routes_from_trafficsplit,
}
"""Route translators keyed by ``<API group>/<kind>``."""


def routes_from_object(obj: Mapping[str, object], known: EndpointTable) -> VirtualHostRoutes:
    """Translate any supported route object, dispatching on its API group and kind (unknown: an error)."""
    api_version = str(obj.get("apiVersion", ""))
    key = f"{api_version.split('/', 1)[0] if '/' in api_version else ''}/{obj.get('kind', '')}"
    builder = ROUTE_BUILDERS.get(key)
    if builder is None:
        raise MeshConfigError(
            f"the sandbox mesh cannot route with {api_version or '<no apiVersion>'} {obj.get('kind')}; "
            f"supported: {', '.join(sorted(ROUTE_BUILDERS))}"
        )
    return builder(obj, known)


def route_configuration(vhosts: Sequence[VirtualHostRoutes], name: str = ROUTE_CONFIG_NAME) -> dict[str, Any]:
    """The Envoy RouteConfiguration serving every virtual host.

    Route objects sharing host names are merged (their rules in the given order); Envoy needs each
    domain in exactly one virtual host.
    """
    rules_by_domain: dict[str, list[VirtualHostRoutes]] = {}
    for vhost in vhosts:
        for domain in vhost.domains:
            rules_by_domain.setdefault(domain, []).append(vhost)
    groups: dict[tuple[str, ...], list[str]] = {}
    for domain, owners in rules_by_domain.items():
        groups.setdefault(tuple(v.name for v in owners), []).append(domain)
    by_name = {v.name: v for v in vhosts}
    virtual_hosts = []
    for owner_names, domains in groups.items():
        routes = [envoy_route(rule) for owner in owner_names for rule in by_name[owner].rules]
        virtual_hosts.append({"name": "+".join(owner_names), "domains": sorted(domains), "routes": routes})
    return {
        "@type": TYPE_ROUTE,
        "name": name,
        "virtual_hosts": sorted(virtual_hosts, key=lambda v: str(v["name"])),
    }


def envoy_route(rule: RouteRule) -> dict[str, Any]:
    """One Envoy route entry: the match, then weighted clusters (or a 500 when every weight is 0)."""
    match: dict[str, Any] = _path_match(rule.match.path)
    headers = [_header_matcher(h) for h in rule.match.headers]
    if rule.match.method:
        headers.append({"name": ":method", "string_match": {"exact": rule.match.method}})
    if headers:
        match["headers"] = headers
    if rule.match.query_params:
        match["query_parameters"] = [
            {"name": q.name, "string_match": _string_matcher(q)} for q in rule.match.query_params
        ]
    weighted = [
        {"name": cluster_name(wb.backend), "weight": wb.weight} for wb in rule.backends if wb.weight > 0
    ]
    if not weighted:
        # Gateway API: a rule whose backends all weigh 0 answers 500
        return {"match": match, "direct_response": {"status": 500}}
    route: dict[str, Any] = {"weighted_clusters": {"clusters": weighted}, "retry_policy": dict(_RETRY_POLICY)}
    if rule.timeout_seconds is not None:
        route["timeout"] = _duration(rule.timeout_seconds)
    return {"match": match, "route": route}


def _path_match(path: PathMatch) -> dict[str, Any]:
    if path.kind == "exact":
        return {"path": path.value}
    if path.kind == "regex":
        return {"safe_regex": {"regex": path.value}}
    return {"prefix": path.value or "/"}


def _string_matcher(match: HeaderMatch) -> dict[str, Any]:
    if match.kind == "regex":
        return {"safe_regex": {"regex": match.value}}
    return {match.kind: match.value}


def _header_matcher(match: HeaderMatch) -> dict[str, Any]:
    return {"name": match.name.lower(), "string_match": _string_matcher(match)}


def _duration(seconds: float) -> str:
    return f"{seconds:.3f}s"


def referenced_backends(vhosts: Iterable[VirtualHostRoutes], endpoints: EndpointTable) -> list[ServicePort]:
    """Every Service port that needs a cluster: those with endpoints and those routes refer to."""
    found = set(endpoints)
    for vhost in vhosts:
        found |= vhost.backends()
    return sorted(found)


def eds_path(eds_dir: Path, backend: ServicePort) -> Path:
    """The EDS file of a backend's cluster."""
    return eds_dir / f"{cluster_name(backend)}.json"


def cluster(backend: ServicePort, eds_dir: Path) -> dict[str, Any]:
    """The EDS cluster of one Service port, its endpoints read from its own file."""
    return {
        "@type": TYPE_CLUSTER,
        "name": cluster_name(backend),
        "type": "EDS",
        "connect_timeout": "1s",
        "eds_cluster_config": {
            "eds_config": {
                "path_config_source": {"path": str(eds_path(eds_dir, backend))},
                "resource_api_version": "V3",
            }
        },
    }


def load_assignment(backend: ServicePort, endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    """The ClusterLoadAssignment of one cluster: its ready endpoints."""
    lb_endpoints = [
        {"endpoint": {"address": {"socket_address": {"address": ip, "port_value": port}}}}
        for ip, port in sorted(endpoints)
    ]
    return {
        "@type": TYPE_ENDPOINTS,
        "cluster_name": cluster_name(backend),
        "endpoints": [{"lb_endpoints": lb_endpoints}] if lb_endpoints else [],
    }


def listener(port: int, rds_file: Path) -> dict[str, Any]:
    """The single HTTP listener on 127.0.0.1, its routes by RDS from ``rds_file``."""
    hcm = {
        "@type": _HCM,
        "stat_prefix": STAT_PREFIX,
        "rds": {
            "route_config_name": ROUTE_CONFIG_NAME,
            "config_source": {"path_config_source": {"path": str(rds_file)}, "resource_api_version": "V3"},
        },
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}}],
    }
    return {
        "@type": TYPE_LISTENER,
        "name": LISTENER_NAME,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
        ],
    }


def bootstrap(admin_port: int, lds_file: Path, cds_file: Path, node_id: str) -> dict[str, Any]:
    """The Envoy bootstrap: admin on 127.0.0.1 and listeners/clusters from watched files."""
    return {
        "node": {"id": node_id, "cluster": "serinus-sandbox"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "dynamic_resources": {
            "lds_config": {"path_config_source": {"path": str(lds_file)}, "resource_api_version": "V3"},
            "cds_config": {"path_config_source": {"path": str(cds_file)}, "resource_api_version": "V3"},
        },
    }


def discovery_response(version: int, resources: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A file-based xDS document (a DiscoveryResponse) holding ``resources``."""
    return {"version_info": str(version), "resources": list(resources)}
