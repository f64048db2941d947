"""Route objects become the right Envoy routes and clusters.

Pins: HTTPRoute/VirtualService/TrafficSplit weights become Envoy weighted clusters named
``<namespace>_<service>_<port>``; header matches (A/B) become Envoy header matchers and are tried
before the catch-all; Istio weights must sum to 100; ports resolve from the known Service ports;
malformed objects fail with a message naming the object and field; clusters take endpoints by EDS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.mesh import (
    MeshConfigError,
    PodAddress,
    ServicePort,
    cluster_name,
    envoyconfig,
    route_configuration,
    routes_from_object,
    service_endpoints,
)

PRIMARY = ServicePort("shop", "podinfo-primary", 9898)
CANARY = ServicePort("shop", "podinfo-canary", 9898)
KNOWN = {PRIMARY: [("127.0.0.1", 4001)], CANARY: []}


def httproute(primary: int, canary: int, **rule_extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "podinfo", "namespace": "shop"},
        "spec": {
            "hostnames": ["podinfo.shop"],
            "rules": [
                {
                    "backendRefs": [
                        {"name": "podinfo-primary", "port": 9898, "weight": primary},
                        {"name": "podinfo-canary", "port": 9898, "weight": canary},
                    ],
                    **rule_extra,
                }
            ],
        },
    }


def virtualservice(http: list[dict[str, Any]], hosts: list[str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": "podinfo", "namespace": "shop"},
        "spec": {"hosts": hosts or ["podinfo"], "http": http},
    }


def weighted(route: dict[str, Any]) -> dict[str, int]:
    return {c["name"]: c["weight"] for c in route["route"]["weighted_clusters"]["clusters"]}


def only_vhost(config: dict[str, Any]) -> dict[str, Any]:
    assert len(config["virtual_hosts"]) == 1
    vhost: dict[str, Any] = config["virtual_hosts"][0]
    return vhost


def test_cluster_name_convention_matches_the_builtin_envoy_selector() -> None:
    assert cluster_name(CANARY) == "shop_podinfo-canary_9898"
    assert cluster_name(PRIMARY) == "shop_podinfo-primary_9898"


@pytest.mark.parametrize(("primary", "canary"), [(100, 0), (90, 10), (50, 50), (0, 100)])
def test_httproute_weights_become_weighted_clusters_summing_to_100(primary: int, canary: int) -> None:
    config = route_configuration([routes_from_object(httproute(primary, canary), KNOWN)])
    vhost = only_vhost(config)
    assert vhost["domains"] == ["podinfo.shop"]
    [route] = vhost["routes"]
    expected = {
        n: w for n, w in (("shop_podinfo-primary_9898", primary), ("shop_podinfo-canary_9898", canary)) if w
    }
    assert weighted(route) == expected
    assert sum(weighted(route).values()) == 100
    assert route["match"] == {"prefix": "/"}


def test_httproute_all_zero_weights_answer_500_as_gateway_api_requires() -> None:
    [route] = only_vhost(route_configuration([routes_from_object(httproute(0, 0), KNOWN)]))["routes"]
    assert route["direct_response"] == {"status": 500}


def test_httproute_header_match_rule_is_tried_before_the_catch_all() -> None:
    route = httproute(100, 0)
    route["spec"]["rules"].insert(
        0,
        {
            "backendRefs": [{"name": "podinfo-primary", "port": 9898, "weight": 100}],
        },
    )
    route["spec"]["rules"].append(
        {
            "matches": [
                {"headers": [{"name": "X-Canary", "value": "insider"}]},
                {"headers": [{"type": "RegularExpression", "name": "cookie", "value": ".*canary=always.*"}]},
            ],
            "backendRefs": [{"name": "podinfo-canary", "port": 9898}],
        }
    )
    routes = only_vhost(route_configuration([routes_from_object(route, KNOWN)]))["routes"]
    assert routes[0]["match"]["headers"] == [{"name": "x-canary", "string_match": {"exact": "insider"}}]
    assert routes[1]["match"]["headers"] == [
        {"name": "cookie", "string_match": {"safe_regex": {"regex": ".*canary=always.*"}}}
    ]
    assert weighted(routes[0]) == {"shop_podinfo-canary_9898": 1}  # weight defaults to 1
    assert "headers" not in routes[2]["match"] and "headers" not in routes[3]["match"]


def test_httproute_exact_and_longer_prefix_paths_take_precedence() -> None:
    route = httproute(100, 0)
    route["spec"]["rules"][0]["matches"] = [{"path": {"type": "PathPrefix", "value": "/"}}]
    route["spec"]["rules"].append(
        {
            "matches": [
                {"path": {"type": "PathPrefix", "value": "/api"}},
                {"path": {"type": "Exact", "value": "/healthz"}, "method": "GET"},
            ],
            "backendRefs": [{"name": "podinfo-canary", "port": 9898}],
            "timeouts": {"request": "1500ms"},
        }
    )
    routes = only_vhost(route_configuration([routes_from_object(route, KNOWN)]))["routes"]
    assert [r["match"].get("path") or r["match"].get("prefix") for r in routes] == ["/healthz", "/api", "/"]
    assert routes[0]["match"]["headers"] == [{"name": ":method", "string_match": {"exact": "GET"}}]
    assert routes[0]["route"]["timeout"] == "1.500s"


def test_httproute_without_hostnames_serves_every_host() -> None:
    route = httproute(100, 0)
    del route["spec"]["hostnames"]
    assert only_vhost(route_configuration([routes_from_object(route, KNOWN)]))["domains"] == ["*"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["spec"]["rules"][0]["backendRefs"][0].pop("port"), "backendRefs[0].port"),
        (lambda r: r["spec"]["rules"][0]["backendRefs"][1].update(weight=-1), "backendRefs[1].weight"),
        (lambda r: r["spec"]["rules"][0]["backendRefs"][0].update(kind="Bucket"), "only Service backends"),
        (
            lambda r: r["spec"]["rules"][0].update(matches=[{"path": {"type": "Glob"}}]),
            "matches[0].path.type",
        ),
        (lambda r: r["spec"].update(rules={}), "spec.rules must be a list"),
    ],
)
def test_httproute_errors_name_the_object_and_field(mutate: Any, message: str) -> None:
    route = httproute(90, 10)
    mutate(route)
    with pytest.raises(MeshConfigError, match="HTTPRoute shop/podinfo") as exc:
        routes_from_object(route, KNOWN)
    assert message in str(exc.value)


def test_virtualservice_weights_and_header_matches() -> None:
    vs = virtualservice(
        [
            {
                "match": [
                    {"headers": {"x-canary": {"exact": "insider"}, "user-agent": {"regex": ".*Firefox.*"}}}
                ],
                "route": [{"destination": {"host": "podinfo-canary"}}],
            },
            {
                "route": [
                    {"destination": {"host": "podinfo-primary", "port": {"number": 9898}}, "weight": 70},
                    {"destination": {"host": "podinfo-canary.shop.svc.cluster.local"}, "weight": 30},
                ]
            },
        ]
    )
    vhost = only_vhost(route_configuration([routes_from_object(vs, KNOWN)]))
    assert set(vhost["domains"]) == {
        "podinfo",
        "podinfo.shop",
        "podinfo.shop.svc",
        "podinfo.shop.svc.cluster.local",
    }
    ab, split = vhost["routes"]
    assert ab["match"]["headers"] == [
        {"name": "x-canary", "string_match": {"exact": "insider"}},
        {"name": "user-agent", "string_match": {"safe_regex": {"regex": ".*Firefox.*"}}},
    ]
    assert weighted(ab) == {"shop_podinfo-canary_9898": 100}
    assert weighted(split) == {"shop_podinfo-primary_9898": 70, "shop_podinfo-canary_9898": 30}


def test_virtualservice_weights_must_sum_to_100() -> None:
    vs = virtualservice(
        [
            {
                "route": [
                    {"destination": {"host": "podinfo-primary"}, "weight": 70},
                    {"destination": {"host": "podinfo-canary"}, "weight": 20},
                ]
            }
        ]
    )
    with pytest.raises(MeshConfigError, match=r"weights \[70, 20\] must sum to 100"):
        routes_from_object(vs, KNOWN)


def test_virtualservice_rejects_subsets_and_unknown_ports() -> None:
    subset = virtualservice([{"route": [{"destination": {"host": "podinfo", "subset": "canary"}}]}])
    with pytest.raises(MeshConfigError, match="subsets are not supported"):
        routes_from_object(subset, KNOWN)
    unknown = virtualservice([{"route": [{"destination": {"host": "other"}}]}])
    with pytest.raises(MeshConfigError, match="service shop/other is not known"):
        routes_from_object(unknown, KNOWN)


def test_trafficsplit_weights_resolve_ports_and_serve_the_apex_service() -> None:
    split = {
        "apiVersion": "split.smi-spec.io/v1alpha2",
        "kind": "TrafficSplit",
        "metadata": {"name": "podinfo", "namespace": "shop"},
        "spec": {
            "service": "podinfo",
            "backends": [
                {"service": "podinfo-primary", "weight": 60},
                {"service": "podinfo-canary", "weight": 40},
            ],
        },
    }
    vhost = only_vhost(route_configuration([routes_from_object(split, KNOWN)]))
    assert "podinfo.shop.svc.cluster.local" in vhost["domains"]
    assert weighted(vhost["routes"][0]) == {"shop_podinfo-primary_9898": 60, "shop_podinfo-canary_9898": 40}
    several_ports = {**KNOWN, ServicePort("shop", "podinfo-canary", 8080): []}
    with pytest.raises(MeshConfigError, match="several ports"):
        routes_from_object(split, several_ports)


def test_unknown_route_kind_fails_loudly_naming_the_supported_ones() -> None:
    with pytest.raises(MeshConfigError, match=r"supported: gateway\.networking\.k8s\.io/HTTPRoute"):
        routes_from_object(
            {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "x"}}, {}
        )


def test_routes_sharing_hosts_merge_into_one_virtual_host_in_order() -> None:
    first = httproute(100, 0)
    second = httproute(0, 100)
    second["metadata"]["name"] = "later"
    config = route_configuration([routes_from_object(first, KNOWN), routes_from_object(second, KNOWN)])
    vhost = only_vhost(config)
    assert [weighted(r) for r in vhost["routes"]] == [
        {"shop_podinfo-primary_9898": 100},
        {"shop_podinfo-canary_9898": 100},
    ]


def test_clusters_take_endpoints_by_eds_from_one_file_each(tmp_path: Path) -> None:
    vhosts = [routes_from_object(httproute(90, 10), {})]
    backends = envoyconfig.referenced_backends(vhosts, {ServicePort("shop", "other", 80): []})
    assert [cluster_name(b) for b in backends] == [
        "shop_other_80",
        "shop_podinfo-canary_9898",
        "shop_podinfo-primary_9898",
    ]
    cluster = envoyconfig.cluster(CANARY, tmp_path)
    assert cluster["type"] == "EDS"
    path = cluster["eds_cluster_config"]["eds_config"]["path_config_source"]["path"]
    assert path == str(tmp_path / "shop_podinfo-canary_9898.json")
    assignment = envoyconfig.load_assignment(CANARY, [("127.0.0.1", 4002), ("127.0.0.1", 4001)])
    ports = [
        e["endpoint"]["address"]["socket_address"]["port_value"]
        for e in assignment["endpoints"][0]["lb_endpoints"]
    ]
    assert ports == [4001, 4002]
    assert envoyconfig.load_assignment(CANARY, [])["endpoints"] == []


def test_listener_takes_routes_by_rds_so_weight_changes_never_touch_it(tmp_path: Path) -> None:
    listener = envoyconfig.listener(0, tmp_path / "rds.json")
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert hcm["rds"]["route_config_name"] == envoyconfig.ROUTE_CONFIG_NAME
    assert hcm["rds"]["config_source"]["path_config_source"]["path"] == str(tmp_path / "rds.json")


def test_service_endpoints_follow_ready_selected_pods_and_map_target_ports() -> None:
    svc = {
        "kind": "Service",
        "metadata": {"name": "podinfo-canary", "namespace": "shop"},
        "spec": {
            "selector": {"app": "podinfo"},
            "ports": [{"port": 9898, "targetPort": "http"}, {"port": 80}],
        },
    }
    pods = [
        PodAddress("shop", {"app": "podinfo"}, "127.0.0.1", 5001, True, {"http": 5001, 9898: 5001}),
        PodAddress("shop", {"app": "podinfo"}, "127.0.0.1", 5002, False, {"http": 5002}),  # not ready
        PodAddress("shop", {"app": "other"}, "127.0.0.1", 5003, True),  # not selected
        PodAddress("prod", {"app": "podinfo"}, "127.0.0.1", 5004, True),  # other namespace
        PodAddress("shop", {"app": "podinfo", "x": "y"}, "127.0.0.1", 5005, True),  # undeclared: main port
    ]
    assert service_endpoints(svc, pods) == {
        ServicePort("shop", "podinfo-canary", 9898): [("127.0.0.1", 5001), ("127.0.0.1", 5005)],
        ServicePort("shop", "podinfo-canary", 80): [("127.0.0.1", 5001), ("127.0.0.1", 5005)],
    }
    no_selector = {**svc, "spec": {"ports": [{"port": 80}]}}
    assert service_endpoints(no_selector, pods) == {ServicePort("shop", "podinfo-canary", 80): []}
