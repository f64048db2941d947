"""The router apply side over the in-memory store: create, write only changes, retry on conflict."""

from __future__ import annotations

import pytest

from controller.kube.memory import MemoryObjects
from controller.kube.objects import Conflict
from controller.routers.apply import ATTEMPTS, RouteConflict, RouterAdapter
from controller.routers.gatewayapi import HTTPROUTE, GatewayApiRouter
from controller.routers.istio import DESTINATION_RULE, IstioRouter
from controller.routers.model import RouteTarget, Weights


def test_set_weights_creates_then_replaces_and_reads_back(target: RouteTarget) -> None:
    store = MemoryObjects()
    router = RouterAdapter(store, GatewayApiRouter())
    assert router.observe(target) is None
    assert router.ensure(target) == Weights(100, 0)
    assert router.set_weights(target, Weights(80, 20)) == Weights(80, 20)
    assert [w[0] for w in store.writes] == ["create", "replace"]
    # The same split again writes nothing (idle ticks cost no API writes).
    assert router.set_weights(target, Weights(80, 20)) == Weights(80, 20)
    assert router.ensure(target) == Weights(80, 20)  # ensure keeps the current split
    assert len(store.writes) == 2


def test_a_conflicting_writer_is_reread_and_its_fields_kept(target: RouteTarget) -> None:
    store = MemoryObjects()
    router = RouterAdapter(store, GatewayApiRouter())
    router.ensure(target)
    store.fail_next("replace", Conflict("stale", 409))
    assert router.set_weights(target, Weights(50, 50)) == Weights(50, 50)
    for _ in range(ATTEMPTS):
        store.fail_next("replace", Conflict("stale", 409))
    with pytest.raises(RouteConflict, match="HTTPRoute shop/podinfo"):
        router.set_weights(target, Weights(40, 60))
    obj = store.get(HTTPROUTE, "shop", "podinfo")
    assert obj is not None
    assert GatewayApiRouter().read_weights(obj, target) == Weights(50, 50)


def test_istio_apply_writes_destination_rules_too(target: RouteTarget) -> None:
    store = MemoryObjects()
    assert RouterAdapter(store, IstioRouter()).set_weights(target, Weights(90, 10)) == Weights(90, 10)
    for name in ("podinfo-primary", "podinfo-canary"):
        dr = store.get(DESTINATION_RULE, "shop", name)
        assert dr is not None
        assert dr["spec"]["host"] == name
