"""Weights always sum to 100 (invariant I3) and the provider registry fails loudly on unknown names."""

from __future__ import annotations

import pytest

from controller.routers import ROUTERS, UnknownProvider, Weights, get_router
from controller.routers.model import InvalidWeights, RouterError, RouteTarget


def test_weights_accept_splits_that_sum_to_100() -> None:
    assert Weights(90, 10).canary == 10
    assert Weights.to_canary(35) == Weights(65, 35)


@pytest.mark.parametrize(
    ("primary", "canary", "fragment"),
    [(90, 20, "sum to 100"), (101, -1, "within 0..100"), (50.0, 50, "integer"), (True, 99, "integer")],
)
def test_weights_refuse_bad_splits(primary: object, canary: object, fragment: str) -> None:
    with pytest.raises(InvalidWeights, match=fragment):
        Weights(primary, canary)  # type: ignore[arg-type]


def test_to_canary_refuses_out_of_range() -> None:
    with pytest.raises(InvalidWeights, match=r"0\.\.100"):
        Weights.to_canary(120)


def test_registry_has_the_five_providers() -> None:
    assert sorted(ROUTERS) == ["gatewayapi", "istio", "kubernetes", "nginx", "smi"]
    for name in ROUTERS:
        assert get_router(name).name == name


def test_unknown_provider_lists_known_names() -> None:
    with pytest.raises(UnknownProvider, match=r"unknown provider 'linkerd'.*gatewayapi, istio, kubernetes"):
        get_router("linkerd")


def test_route_target_validates_port_and_names() -> None:
    with pytest.raises(RouterError, match=r"port must be 1\.\.65535"):
        RouteTarget("shop", "podinfo", 0)
    with pytest.raises(RouterError, match="namespace and a service"):
        RouteTarget("", "podinfo", 80)


def test_route_target_from_a_canary_and_its_target() -> None:
    from controller.routers import route_target

    canary = {"apiVersion": "serinus.dev/v1alpha1", "kind": "Canary",
              "metadata": {"name": "podinfo", "namespace": "shop", "uid": "u1"},
              "spec": {"targetRef": {"name": "podinfo"}, "ingressRef": {"name": "web"},
                       "service": {"port": 9898, "hosts": ["app.example.com"], "gateways": ["gw/public"],
                                   "gatewayRefs": [{"name": "public", "namespace": "gw"}]}}}
    deployment = {"spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "podinfo"}}}}
    t = route_target(canary, deployment)
    assert (t.namespace, t.service, t.port, t.ingress_ref) == ("shop", "podinfo", 9898, "web")
    assert t.gateway_refs == ({"name": "public", "namespace": "gw"},)
    assert (t.hosts, t.gateways) == (("app.example.com",), ("gw/public",))
    assert t.owner is not None
    assert t.owner.uid == "u1"
    assert t.primary_selector == {"app.kubernetes.io/name": "podinfo-primary"}
    assert t.canary_selector == {"app.kubernetes.io/name": "podinfo"}
    with pytest.raises(RouterError, match=r"spec\.service\.port must be an integer"):
        route_target({**canary, "spec": {"targetRef": {"name": "podinfo"}, "service": {}}})
