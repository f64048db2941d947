"""The Gateway API builder: weighted backendRefs, A/B matches, and foreign rules/fields kept."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from controller.routers.gatewayapi import GatewayApiRouter
from controller.routers.model import RouterError, RouteTarget, UnreadableRoute, UnsupportedMatch, Weights

R = GatewayApiRouter()


def _backends(rule: dict[str, Any]) -> dict[str, int]:
    return {b["name"]: b["weight"] for b in rule["backendRefs"]}


def test_new_route_has_parent_refs_and_weighted_backends(target: RouteTarget) -> None:
    obj = R.build(None, target, Weights(90, 10), None)
    assert obj["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert obj["kind"] == "HTTPRoute"
    assert obj["metadata"]["name"] == "podinfo"
    assert obj["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert obj["spec"]["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public", "namespace": "gateway"}]
    [rule] = obj["spec"]["rules"]
    assert _backends(rule) == {"podinfo-primary": 90, "podinfo-canary": 10}
    assert all(b["port"] == 9898 for b in rule["backendRefs"])
    assert R.read_weights(obj, target) == Weights(90, 10)


def test_rebuilding_an_unchanged_split_is_a_fixed_point(target: RouteTarget) -> None:
    obj = R.build(None, target, Weights(60, 40), None)
    assert R.build(obj, target, Weights(60, 40), None) == obj


def test_foreign_rules_hostnames_labels_and_rule_fields_are_kept(target: RouteTarget) -> None:
    foreign_rule: dict[str, Any] = {"matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                    "backendRefs": [{"name": "admin", "port": 80}]}
    current: dict[str, Any] = {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "podinfo", "namespace": "shop", "resourceVersion": "7",
                     "labels": {"team": "web"}, "annotations": {"note": "x"}},
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "gateway"}],
            "hostnames": ["podinfo.example.com"],
            "rules": [foreign_rule,
                      {"timeouts": {"request": "10s"},
                       "backendRefs": [{"name": "podinfo-primary", "port": 9898, "weight": 100}]}],
        },
    }
    obj = R.build(current, target, Weights(80, 20), None)
    assert obj["metadata"]["labels"]["team"] == "web"
    assert obj["metadata"]["annotations"] == {"note": "x"}
    assert obj["metadata"]["resourceVersion"] == "7"  # the write is guarded by what was read
    assert obj["spec"]["hostnames"] == ["podinfo.example.com"]
    first, ours = obj["spec"]["rules"]
    assert first == foreign_rule
    assert ours["timeouts"] == {"request": "10s"}
    assert _backends(ours) == {"podinfo-primary": 80, "podinfo-canary": 20}
    assert current["spec"]["rules"][1]["backendRefs"][0]["weight"] == 100  # input not mutated


def test_ab_matches_route_matching_requests_and_default_to_primary(target: RouteTarget) -> None:
    match = [{"headers": {"x-canary": {"exact": "insider"}}},
             {"headers": {"cookie": {"regex": "^(.*?;)?(canary=always)(;.*)?$"}}}]
    obj = R.build(None, target, Weights(0, 100), match)
    ab, default = obj["spec"]["rules"]
    assert ab["matches"][0]["headers"] == [{"name": "x-canary", "type": "Exact", "value": "insider"}]
    assert ab["matches"][1]["headers"][0]["type"] == "RegularExpression"
    assert _backends(ab) == {"podinfo-primary": 0, "podinfo-canary": 100}
    assert _backends(default) == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert R.read_weights(obj, target) == Weights(0, 100)
    # Dropping the match leaves a single rule: the A/B rule does not linger.
    plain = R.build(obj, target, Weights(100, 0), None)
    assert len(plain["spec"]["rules"]) == 1


def test_unsupported_match_is_refused_with_its_place(target: RouteTarget) -> None:
    with pytest.raises(UnsupportedMatch, match=r"analysis.match\[0\].*'prefix'"):
        R.build(None, target, Weights(0, 100), [{"headers": {"x": {"prefix": "a"}}}])
    with pytest.raises(UnsupportedMatch, match="not \\['uri'\\]"):
        R.build(None, target, Weights(0, 100), [{"uri": {"prefix": "/"}}])


def test_gateway_refs_are_required_for_a_new_route(target: RouteTarget) -> None:
    with pytest.raises(RouterError, match="gatewayRefs is required"):
        R.build(None, dataclasses.replace(target, gateway_refs=()), Weights(100, 0), None)


def test_read_back_rejects_routes_that_are_not_ours_or_do_not_sum(target: RouteTarget) -> None:
    with pytest.raises(UnreadableRoute, match="no rule routes"):
        R.read_weights({"spec": {"rules": [{"backendRefs": [{"name": "other"}]}]}}, target)
    bad = {"spec": {"rules": [{"backendRefs": [{"name": "podinfo-primary"}, {"name": "podinfo-canary"}]}]}}
    with pytest.raises(UnreadableRoute, match="sum to 100"):  # default weight 1 + 1
        R.read_weights(bad, target)
