"""Every router's objects are accepted by the emulator's schema validation of the mesh CRDs, carry
the split that is read back, and an unchanged split writes nothing even after CRD defaulting."""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from controller.kube.objects import INGRESS, SERVICE, Invalid, KubeObjects
from controller.kube.ownership import OwnerRef
from controller.kube.services import KubeServices, ServicePlan, ServicePort
from controller.routers import RouterAdapter, RouteTarget, Weights, get_router
from controller.routers.gatewayapi import HTTPROUTE
from controller.routers.istio import DESTINATION_RULE, VIRTUAL_SERVICE
from controller.routers.nginx import BY_HEADER, CANARY, WEIGHT
from controller.routers.smi import TRAFFIC_SPLIT
from tests.integration.routers.cluster import NS, create_canary

pytestmark = pytest.mark.integration


def _target(**extra: Any) -> RouteTarget:
    return RouteTarget(namespace=NS, service="podinfo", port=9898,
                       gateway_refs=({"name": "public", "namespace": "gateway"},),
                       primary_selector={"app": "podinfo-primary"}, canary_selector={"app": "podinfo"},
                       **extra)


def _version(objects: KubeObjects, res: Any, name: str) -> str:
    obj = objects.get(res, NS, name)
    assert obj is not None, f"{res.kind} {name} was not written"
    return str(obj["metadata"]["resourceVersion"])


def _steps(router: RouterAdapter, target: RouteTarget, splits: list[int]) -> list[Weights]:
    return [router.set_weights(target, Weights.to_canary(c)) for c in splits]


def test_gatewayapi_route_is_admitted_defaulted_and_idempotent(objects: KubeObjects) -> None:
    router = RouterAdapter(objects, get_router("gatewayapi"))
    target = _target()
    assert _steps(router, target, [0, 10, 50]) == [Weights(100, 0), Weights(90, 10), Weights(50, 50)]
    before = _version(objects, HTTPROUTE, "podinfo")
    assert router.set_weights(target, Weights(50, 50)) == Weights(50, 50)
    assert _version(objects, HTTPROUTE, "podinfo") == before  # no write: defaults were written explicitly
    # A/B: matching requests go to the canary, the rest stays on the primary.
    ab = router.set_weights(target, Weights(0, 100), [{"headers": {"x-canary": {"exact": "insider"}}}])
    assert ab == Weights(0, 100)
    stored = objects.get(HTTPROUTE, NS, "podinfo")
    assert stored is not None
    rules = stored["spec"]["rules"]
    assert rules[0]["matches"][0]["headers"] == [{"name": "x-canary", "type": "Exact", "value": "insider"}]
    assert [b["weight"] for b in rules[1]["backendRefs"]] == [100, 0]


def test_gatewayapi_keeps_a_rule_another_writer_added(objects: KubeObjects) -> None:
    router = RouterAdapter(objects, get_router("gatewayapi"))
    target = _target()
    router.ensure(target)
    route = objects.get(HTTPROUTE, NS, "podinfo")
    assert route is not None
    route["spec"]["rules"].insert(0, {"matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                                      "backendRefs": [{"name": "admin", "port": 80}]})
    route["metadata"].setdefault("labels", {})["team"] = "web"
    objects.replace(HTTPROUTE, NS, "podinfo", route)
    assert router.set_weights(target, Weights(70, 30)) == Weights(70, 30)
    stored = objects.get(HTTPROUTE, NS, "podinfo")
    assert stored is not None
    assert stored["spec"]["rules"][0]["backendRefs"][0]["name"] == "admin"
    assert stored["metadata"]["labels"]["team"] == "web"


def test_the_emulator_refuses_an_invalid_route_so_admission_is_real(objects: KubeObjects) -> None:
    bad = get_router("gatewayapi").build(None, _target(), Weights(100, 0), None)
    bad["spec"]["rules"][0]["backendRefs"][0]["weight"] = -1
    with pytest.raises(Invalid, match="weight"):
        objects.create(HTTPROUTE, NS, bad)


def test_istio_virtual_service_and_destination_rules(objects: KubeObjects) -> None:
    router = RouterAdapter(objects, get_router("istio"))
    target = _target()
    assert _steps(router, target, [0, 20, 100]) == [Weights(100, 0), Weights(80, 20), Weights(0, 100)]
    for name in ("podinfo-primary", "podinfo-canary"):
        rule = objects.get(DESTINATION_RULE, NS, name)
        assert rule is not None
        assert rule["spec"]["host"] == name
    before = _version(objects, VIRTUAL_SERVICE, "podinfo")
    router.set_weights(target, Weights(0, 100))
    assert _version(objects, VIRTUAL_SERVICE, "podinfo") == before


def test_smi_traffic_split(objects: KubeObjects) -> None:
    router = RouterAdapter(objects, get_router("smi"))
    target = _target()
    assert _steps(router, target, [0, 5, 60]) == [Weights(100, 0), Weights(95, 5), Weights(40, 60)]
    split = objects.get(TRAFFIC_SPLIT, NS, "podinfo")
    assert split is not None
    assert split["spec"]["service"] == "podinfo"


def test_nginx_canary_ingress(objects: KubeObjects) -> None:
    objects.create(INGRESS, NS, {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "podinfo", "annotations": {"kustomize.toolkit.fluxcd.io/name": "apps"}},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "app.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "podinfo", "port": {"number": 9898}}}}]}}]}})
    router = RouterAdapter(objects, get_router("nginx"))
    target = _target(ingress_ref="podinfo")
    assert _steps(router, target, [0, 30]) == [Weights(100, 0), Weights(70, 30)]
    canary = objects.get(INGRESS, NS, "podinfo-canary")
    assert canary is not None
    assert canary["metadata"]["annotations"][CANARY] == "true"
    assert canary["metadata"]["annotations"][WEIGHT] == "30"
    assert "kustomize.toolkit.fluxcd.io/name" not in canary["metadata"]["annotations"]
    backend = canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "podinfo-canary"
    ab = router.set_weights(target, Weights(0, 100), [{"headers": {"x-canary": {"exact": "1"}}}])
    assert ab == Weights(0, 100)
    canary = objects.get(INGRESS, NS, "podinfo-canary")
    assert canary is not None
    assert canary["metadata"]["annotations"][BY_HEADER] == "x-canary"


def test_kubernetes_blue_green_switches_the_apex_service(objects: KubeObjects,
                                                         api: kubernetes.client.ApiClient) -> None:
    canary = create_canary(api)
    owner = OwnerRef.of(canary)
    target = _target(owner=owner)
    plan = ServicePlan(NS, "podinfo", ServicePort(9898, 9898), {"app": "podinfo-primary"}, {"app": "podinfo"},
                       owner)
    KubeServices(objects).ensure(plan)
    apex = objects.get(SERVICE, NS, "podinfo")
    assert apex is not None
    cluster_ip = apex["spec"]["clusterIP"]
    router = RouterAdapter(objects, get_router("kubernetes"))
    assert router.observe(target) == Weights(100, 0)
    assert router.set_weights(target, Weights(0, 100)) == Weights(0, 100)
    KubeServices(objects).ensure(plan)  # the Services adapter leaves the router's selector alone
    assert router.observe(target) == Weights(0, 100)
    assert router.set_weights(target, Weights(100, 0)) == Weights(100, 0)
    apex = objects.get(SERVICE, NS, "podinfo")
    assert apex is not None
    assert apex["spec"]["clusterIP"] == cluster_ip
    assert apex["metadata"]["ownerReferences"][0]["uid"] == owner.uid
