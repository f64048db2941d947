"""Services keep fields others own; status writes refuse stale versions; events aggregate."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from controller.kube.events import KubeEvents, MemoryEvents, build_event
from controller.kube.memory import MemoryObjects
from controller.kube.objects import CANARY, EVENT, SERVICE
from controller.kube.ownership import OwnerRef
from controller.kube.services import KubeServices, ServicePlan, ServicePort, ServiceSpecError, build_service
from controller.kube.status import ControlAnnotation, KubeCanaryStatus, StaleStatus, manual_controls

OWNER = OwnerRef("serinus.dev/v1alpha1", "Canary", "podinfo", "uid-c")
PORT = ServicePort(9898, 9898, "http", "http")


def test_service_port_from_spec_and_errors() -> None:
    assert ServicePort.from_spec({"port": 80}) == ServicePort(80, 80, "http", None)
    named = {"port": 80, "targetPort": "web", "portName": "web", "appProtocol": "h2c"}
    assert ServicePort.from_spec(named) == ServicePort(80, "web", "web", "h2c")
    with pytest.raises(ServiceSpecError, match=r"spec.service.port must be .* got '80'"):
        ServicePort.from_spec({"port": "80"})
    with pytest.raises(ServiceSpecError, match="targetPort"):
        ServicePort.from_spec({"port": 80, "targetPort": 0})


def test_build_service_keeps_cluster_ip_node_port_and_foreign_labels() -> None:
    current = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "podinfo", "namespace": "shop", "labels": {"team": "web"},
                            "resourceVersion": "5"},
               "spec": {"type": "NodePort", "clusterIP": "10.0.0.9", "clusterIPs": ["10.0.0.9"],
                        "selector": {"app": "podinfo"},
                        "ports": [{"port": 9898, "targetPort": 9898, "nodePort": 30001}]}}
    obj = build_service(current, "shop", "podinfo", selector=None, port=PORT, owner=OWNER)
    spec = obj["spec"]
    assert (spec["type"], spec["clusterIP"], spec["clusterIPs"]) == ("NodePort", "10.0.0.9", ["10.0.0.9"])
    assert spec["selector"] == {"app": "podinfo"}  # None keeps the router's choice
    assert spec["ports"] == [{"name": "http", "port": 9898, "targetPort": 9898, "protocol": "TCP",
                              "appProtocol": "http", "nodePort": 30001}]
    assert obj["metadata"]["labels"]["team"] == "web"
    assert obj["metadata"]["resourceVersion"] == "5"
    with pytest.raises(ServiceSpecError, match="needs a selector"):
        build_service(None, "shop", "podinfo", selector=None, port=PORT, owner=OWNER)


def test_services_adapter_creates_three_and_rewrites_nothing_unchanged() -> None:
    store = MemoryObjects()
    plan = ServicePlan("shop", "podinfo", PORT, {"app": "podinfo-primary"}, {"app": "podinfo"}, OWNER)
    made = KubeServices(store).ensure(plan)
    assert {n: s["spec"]["selector"] for n, s in made.items()} == {
        "podinfo": {"app": "podinfo-primary"}, "podinfo-primary": {"app": "podinfo-primary"},
        "podinfo-canary": {"app": "podinfo"}}
    # The router switched the apex (blue/green); ensuring again leaves its selector alone.
    apex = store.get(SERVICE, "shop", "podinfo")
    assert apex is not None
    apex["spec"]["selector"] = {"app": "podinfo"}
    store.replace(SERVICE, "shop", "podinfo", apex)
    writes = len(store.writes)
    KubeServices(store).ensure(plan)
    assert len(store.writes) == writes
    stored = store.get(SERVICE, "shop", "podinfo")
    assert stored is not None
    assert stored["spec"]["selector"] == {"app": "podinfo"}


def _canary(store: MemoryObjects, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return store.create(CANARY, "shop", {"apiVersion": "serinus.dev/v1alpha1", "kind": "Canary",
                                         "metadata": {"name": "podinfo", "annotations": annotations or {}},
                                         "spec": {}, "status": {"phase": "Initialized"}})


def test_status_write_is_guarded_by_the_version_read() -> None:
    store = MemoryObjects()
    canary = _canary(store)
    statuses = KubeCanaryStatus(store)
    first = statuses.write(canary, {"phase": "Progressing", "canaryWeight": 10})
    assert first["status"]["canaryWeight"] == 10
    with pytest.raises(StaleStatus, match="shop/podinfo changed since it was read"):
        statuses.write(canary, {"phase": "Progressing", "canaryWeight": 20})  # decided from a stale read
    fresh = statuses.read("shop", "podinfo")
    assert fresh is not None
    assert fresh["status"]["canaryWeight"] == 10
    writes = len(store.writes)
    assert statuses.write(fresh, fresh["status"]) == fresh  # unchanged: no write
    assert len(store.writes) == writes


def test_manual_controls_are_read_and_consumed_ones_cleared() -> None:
    store = MemoryObjects()
    canary = _canary(store, {"serinus.dev/promote": "t1", "serinus.dev/abort": " ", "other/x": "y",
                             "serinus.dev/suspend": "t0"})
    controls = manual_controls(canary)
    assert controls == (ControlAnnotation("promote", "t1"), ControlAnnotation("suspend", "t0"))
    statuses = KubeCanaryStatus(store)
    # A newer request ("t2") set meanwhile is not removed by clearing the consumed "t1".
    canary["metadata"]["annotations"]["serinus.dev/promote"] = "t2"
    assert statuses.clear_controls(canary, [ControlAnnotation("promote", "t1")]) == canary
    cleared = statuses.clear_controls(canary, [ControlAnnotation("suspend", "t0")])
    assert cleared is not None
    assert "serinus.dev/suspend" not in cleared["metadata"]["annotations"]
    assert statuses.clear_controls(canary, [ControlAnnotation("promote", "t2")]) is None  # stale: retry later


T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
CANARY_OBJ = {"apiVersion": "serinus.dev/v1alpha1", "kind": "Canary",
              "metadata": {"name": "podinfo", "namespace": "shop", "uid": "uid-c"}}


def test_events_aggregate_count_and_last_timestamp() -> None:
    store = MemoryObjects()
    events = KubeEvents(store, instance="serinus-0")
    events.emit(CANARY_OBJ, "Normal", "Progressing", "weight 10", now=T0)
    events.emit(CANARY_OBJ, "Normal", "Progressing", "weight 10", now=T0 + dt.timedelta(seconds=30))
    events.emit(CANARY_OBJ, "Warning", "Rollback", "error rate 7% > 1%", now=T0)
    stored = sorted((o for (r, _, _), o in store.objects.items() if r == EVENT), key=lambda e: e["reason"])
    assert [(e["reason"], e["type"], e["count"]) for e in stored] == [("Progressing", "Normal", 2),
                                                                      ("Rollback", "Warning", 1)]
    progressing = stored[0]
    assert progressing["firstTimestamp"] == "2026-11-22T10:00:00Z"
    assert progressing["lastTimestamp"] == "2026-11-22T10:00:30Z"
    assert progressing["involvedObject"] == {"apiVersion": "serinus.dev/v1alpha1", "kind": "Canary",
                                             "name": "podinfo", "namespace": "shop", "uid": "uid-c"}


def test_event_input_is_validated_and_the_fake_aggregates() -> None:
    with pytest.raises(ValueError, match="Normal, Warning"):
        build_event(CANARY_OBJ, "Info", "R", "m", now=T0, instance="x")
    fake = MemoryEvents()
    fake.emit(CANARY_OBJ, "Normal", "Promoted", "done")
    fake.emit(CANARY_OBJ, "Normal", "Promoted", "done")
    assert [(e.reason, e.count) for e in fake.events.values()] == [("Promoted", 2)]


def test_service_plan_from_a_canary_and_its_target() -> None:
    canary = {"apiVersion": "serinus.dev/v1alpha1", "kind": "Canary",
              "metadata": {"name": "podinfo", "namespace": "shop", "uid": "uid-c"},
              "spec": {"targetRef": {"name": "podinfo"},
                       "service": {"name": "web", "port": 80, "targetPort": 9898}}}
    plan = ServicePlan.of(canary, {"spec": {"selector": {"matchLabels": {"app": "podinfo"}}}})
    assert plan.names() == ("web", "web-primary", "web-canary")
    assert (plan.port.port, plan.port.target_port) == (80, 9898)
    assert plan.primary_selector == {"app": "podinfo-primary"}
    assert plan.owner == OWNER
