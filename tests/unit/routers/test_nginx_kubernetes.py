"""The ingress-nginx canary Ingress and the blue/green apex Service selector switch."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from controller.routers.kubernetes import KubernetesRouter
from controller.routers.model import (
    MissingSource,
    RouterError,
    RouteTarget,
    UnreadableRoute,
    UnsupportedMatch,
    UnsupportedWeights,
    Weights,
)
from controller.routers.nginx import BY_COOKIE, BY_HEADER, BY_HEADER_VALUE, CANARY, WEIGHT, NginxRouter

NGINX = NginxRouter()
KUBE = KubernetesRouter()


def _ingress() -> dict[str, Any]:
    return {
        "metadata": {"name": "podinfo", "namespace": "shop",
                     "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/",
                                     "kustomize.toolkit.fluxcd.io/name": "apps",
                                     CANARY: "false"}},
        "spec": {"ingressClassName": "nginx",
                 "rules": [{"host": "app.example.com", "http": {"paths": [
                     {"path": "/", "pathType": "Prefix",
                      "backend": {"service": {"name": "podinfo", "port": {"number": 9898}}}},
                     {"path": "/static", "pathType": "Prefix",
                      "backend": {"service": {"name": "cdn", "port": {"number": 80}}}}]}}]},
    }


def test_canary_ingress_copies_the_ingress_pointing_at_the_canary(target: RouteTarget) -> None:
    src = _ingress()
    obj = NGINX.build(None, dataclasses.replace(target, source=src), Weights(70, 30), None)
    assert obj["metadata"]["name"] == "podinfo-canary"
    paths = obj["spec"]["rules"][0]["http"]["paths"]
    assert paths[0]["backend"]["service"] == {"name": "podinfo-canary", "port": {"number": 9898}}
    assert paths[1]["backend"]["service"]["name"] == "cdn"
    notes = obj["metadata"]["annotations"]
    assert notes[CANARY] == "true"
    assert notes[WEIGHT] == "30"
    assert notes["nginx.ingress.kubernetes.io/rewrite-target"] == "/"
    assert "kustomize.toolkit.fluxcd.io/name" not in notes
    assert src["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "podinfo"
    assert NGINX.read_weights(obj, target) == Weights(70, 30)


def test_canary_ingress_needs_its_source(target: RouteTarget) -> None:
    with pytest.raises(MissingSource, match="Ingress shop/podinfo does not exist"):
        NGINX.build(None, target, Weights(100, 0), None)
    with pytest.raises(RouterError, match="needs ingressRef"):
        NGINX.route_ref(dataclasses.replace(target, ingress_ref=None))
    other = _ingress()
    other["spec"]["rules"][0]["http"]["paths"].pop(0)
    with pytest.raises(RouterError, match="no backend routing to Service podinfo"):
        NGINX.build(None, dataclasses.replace(target, source=other), Weights(100, 0), None)


def test_canary_ingress_ab_by_header_and_cookie(target: RouteTarget) -> None:
    t = dataclasses.replace(target, source=_ingress())
    match = [{"headers": {"x-canary": {"exact": "insider"}}}, {"headers": {"cookie": {"exact": "canary"}}}]
    on = NGINX.build(None, t, Weights(0, 100), match)
    notes = on["metadata"]["annotations"]
    assert (notes[BY_HEADER], notes[BY_HEADER_VALUE], notes[BY_COOKIE], notes[WEIGHT]) == (
        "x-canary", "insider", "canary", "0")
    assert NGINX.read_weights(on, t) == Weights(0, 100)
    off = NGINX.build(on, t, Weights(100, 0), match)
    assert BY_HEADER not in off["metadata"]["annotations"]
    assert NGINX.read_weights(off, t) == Weights(100, 0)
    with pytest.raises(UnsupportedWeights, match="all or nothing"):
        NGINX.build(None, t, Weights(50, 50), match)
    with pytest.raises(UnsupportedMatch, match="single header"):
        NGINX.build(None, t, Weights(0, 100), [{"headers": {"a": {"exact": "1"}, "b": {"exact": "2"}}}])


def test_read_back_refuses_a_non_canary_ingress(target: RouteTarget) -> None:
    with pytest.raises(UnreadableRoute, match="not an ingress-nginx canary"):
        NGINX.read_weights(_ingress(), target)


def _apex() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "podinfo", "namespace": "shop", "resourceVersion": "3"},
            "spec": {"clusterIP": "10.0.0.7", "ports": [{"port": 9898}],
                     "selector": {"app": "podinfo-primary"}}}


def test_blue_green_switches_the_apex_selector_only(target: RouteTarget) -> None:
    green = KUBE.build(_apex(), target, Weights(0, 100), None)
    assert green["spec"] == {"clusterIP": "10.0.0.7", "ports": [{"port": 9898}],
                             "selector": {"app": "podinfo"}}
    assert KUBE.read_weights(green, target) == Weights(0, 100)
    blue = KUBE.build(green, target, Weights(100, 0), None)
    assert blue["spec"]["selector"] == {"app": "podinfo-primary"}
    assert KUBE.read_weights(blue, target) == Weights(100, 0)


def test_blue_green_refuses_splits_matches_and_a_missing_service(target: RouteTarget) -> None:
    with pytest.raises(UnsupportedWeights, match="neither 0 nor 100"):
        KUBE.build(_apex(), target, Weights(90, 10), None)
    with pytest.raises(UnsupportedMatch):
        KUBE.build(_apex(), target, Weights(0, 100), [{"headers": {"a": {"exact": "1"}}}])
    with pytest.raises(MissingSource, match="ensure the Services"):
        KUBE.build(None, target, Weights(100, 0), None)
    odd = _apex()
    odd["spec"]["selector"] = {"app": "other"}
    with pytest.raises(UnreadableRoute, match="neither the primary"):
        KUBE.read_weights(odd, target)
