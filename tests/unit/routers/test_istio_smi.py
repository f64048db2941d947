"""Istio VirtualService/DestinationRules and SMI TrafficSplit builders and read-back."""

from __future__ import annotations

import pytest

from controller.routers.istio import DESTINATION_RULE, IstioRouter
from controller.routers.model import ObjectRef, RouteTarget, UnreadableRoute, UnsupportedMatch, Weights
from controller.routers.smi import SmiRouter

ISTIO = IstioRouter()
SMI = SmiRouter()


def test_virtual_service_weights_destinations(target: RouteTarget) -> None:
    obj = ISTIO.build(None, target, Weights(75, 25), None)
    assert obj["apiVersion"] == "networking.istio.io/v1beta1"
    assert obj["spec"]["hosts"] == ["podinfo"]
    [route] = obj["spec"]["http"]
    assert [(d["destination"]["host"], d["weight"]) for d in route["route"]] == [
        ("podinfo-primary", 75), ("podinfo-canary", 25)]
    assert route["route"][0]["destination"]["port"] == {"number": 9898}
    assert ISTIO.read_weights(obj, target) == Weights(75, 25)


def test_virtual_service_keeps_foreign_routes_and_route_fields(target: RouteTarget) -> None:
    foreign = {"match": [{"uri": {"prefix": "/legacy"}}], "route": [{"destination": {"host": "legacy"}}]}
    current = {"metadata": {"name": "podinfo", "labels": {"x": "y"}},
               "spec": {"hosts": ["podinfo", "podinfo.example.com"], "gateways": ["mesh"],
                        "http": [foreign, {"retries": {"attempts": 3},
                                           "route": [{"destination": {"host": "podinfo-primary"}}]}]}}
    obj = ISTIO.build(current, target, Weights(50, 50), None)
    assert obj["spec"]["hosts"] == ["podinfo", "podinfo.example.com"]
    assert obj["spec"]["gateways"] == ["mesh"]
    assert obj["spec"]["http"][0] == foreign
    assert obj["spec"]["http"][1]["retries"] == {"attempts": 3}
    assert ISTIO.read_weights(obj, target) == Weights(50, 50)
    assert ISTIO.read_weights(current, target) == Weights(100, 0)  # a lone destination takes all


def test_virtual_service_ab_route_comes_first(target: RouteTarget) -> None:
    match = [{"headers": {"user-agent": {"regex": ".*Firefox.*"}}}]
    obj = ISTIO.build(None, target, Weights(0, 100), match)
    ab, default = obj["spec"]["http"]
    assert ab["match"] == match
    assert [d["weight"] for d in default["route"]] == [100, 0]
    assert ISTIO.read_weights(obj, target) == Weights(0, 100)
    with pytest.raises(UnsupportedMatch, match="mirror"):
        ISTIO.build(None, target, Weights(0, 100), [{"mirror": {}}])


def test_destination_rules_own_only_the_host(target: RouteTarget) -> None:
    refs = ISTIO.auxiliary(target)
    assert [r.name for r in refs] == ["podinfo-primary", "podinfo-canary"]
    current = {"metadata": {"name": "podinfo-canary"},
               "spec": {"host": "stale", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}}
    obj = ISTIO.build_auxiliary(ObjectRef(DESTINATION_RULE, "podinfo-canary"), current, target)
    assert obj["spec"] == {"host": "podinfo-canary", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}
    assert obj["kind"] == "DestinationRule"


def test_traffic_split_backends(target: RouteTarget) -> None:
    current = {"metadata": {"name": "podinfo", "annotations": {"a": "b"}}}
    obj = SMI.build(current, target, Weights(95, 5), None)
    assert obj["apiVersion"] == "split.smi-spec.io/v1alpha2"
    assert obj["spec"] == {"service": "podinfo", "backends": [
        {"service": "podinfo-primary", "weight": 95}, {"service": "podinfo-canary", "weight": 5}]}
    assert obj["metadata"]["annotations"] == {"a": "b"}
    assert SMI.read_weights(obj, target) == Weights(95, 5)


def test_traffic_split_refuses_matches_and_foreign_backends(target: RouteTarget) -> None:
    with pytest.raises(UnsupportedMatch, match="cannot route by header"):
        SMI.build(None, target, Weights(0, 100), [{"headers": {"x": {"exact": "1"}}}])
    with pytest.raises(UnreadableRoute, match="'other'"):
        SMI.read_weights({"spec": {"backends": [{"service": "other", "weight": 100}]}}, target)
