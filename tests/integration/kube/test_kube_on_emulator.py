"""The kube adapters with the real `kubernetes` client against the API emulator: the primary copies
the target's template without GitOps marks, scaling goes through the scale subresource, a status
written from a stale read raises `StaleStatus`, events aggregate, and of two lease contenders
exactly one leads until the other takes over after expiry."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import kubernetes
import pytest

from controller.kube.events import KubeEvents
from controller.kube.lease import LeaderElector
from controller.kube.objects import DEPLOYMENT, LEASE, KubeObjects
from controller.kube.status import KubeCanaryStatus, StaleStatus, manual_controls
from controller.kube.workloads import KubeWorkloads, readiness_of
from tests.integration.routers.cluster import NS, create_canary
from tests.polling import eventually

pytestmark = pytest.mark.integration


def as_dict(api: kubernetes.client.ApiClient, model: Any) -> dict[str, Any]:
    """A typed client model as the JSON the server sent (camelCase keys)."""
    return cast(dict[str, Any], api.sanitize_for_serialization(model))  # type: ignore[no-untyped-call]


def _settled(api: kubernetes.client.ApiClient, name: str) -> dict[str, Any]:
    """The Deployment once nobody writes it any more: on the real server its controller also writes it
    (revision annotation, status), so wait for two reads half a second apart to agree."""
    apps = kubernetes.client.AppsV1Api(api)
    last: list[str] = []

    def quiet() -> dict[str, Any] | None:
        dep = as_dict(api, apps.read_namespaced_deployment(name, NS))
        version = str(dep["metadata"]["resourceVersion"])
        same = last == [version]
        last[:] = [version]
        return dep if same else None

    found: dict[str, Any] = eventually(quiet, f"Deployment {name} to settle", timeout=20, every=0.5)
    return found


def _target() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "podinfo", "namespace": NS,
                     "labels": {"app": "podinfo", "kustomize.toolkit.fluxcd.io/name": "apps",
                                "app.kubernetes.io/instance": "podinfo"},
                     "annotations": {"argocd.argoproj.io/tracking-id": "apps:apps/Deployment:shop/podinfo"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "podinfo"}},
                 "template": {"metadata": {"labels": {"app": "podinfo", "helm.toolkit.fluxcd.io/name": "x"}},
                              "spec": {"containers": [{"name": "podinfo",
                                                       "image": "ghcr.io/acme/podinfo:6.0.3"}]}}},
    }


def test_primary_is_copied_filtered_owned_and_scaled(objects: KubeObjects,
                                                      api: kubernetes.client.ApiClient) -> None:
    canary = create_canary(api)
    objects.create(DEPLOYMENT, NS, _target())
    workloads = KubeWorkloads(objects)
    primary = workloads.ensure_primary(canary, "podinfo")
    stored = as_dict(api, kubernetes.client.AppsV1Api(api).read_namespaced_deployment("podinfo-primary", NS))
    meta, spec = stored["metadata"], stored["spec"]
    assert meta["labels"] == {"app": "podinfo", "app.kubernetes.io/managed-by": "serinus"}
    # No GitOps marks copied; the real Deployment controller adds its own revision annotation.
    assert set(meta.get("annotations") or {}) <= {"deployment.kubernetes.io/revision"}
    assert spec["selector"]["matchLabels"] == {"app": "podinfo-primary"}
    assert spec["template"]["metadata"]["labels"] == {"app": "podinfo-primary"}
    assert spec["template"]["spec"]["containers"][0]["image"] == "ghcr.io/acme/podinfo:6.0.3"
    assert spec["replicas"] == 2
    [ref] = meta["ownerReferences"]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
        "Canary", "podinfo", canary["metadata"]["uid"], True)
    # Unchanged: no write (once the real Deployment controller, which also writes it, has settled).
    primary = _settled(api, "podinfo-primary")
    assert workloads.ensure_primary(canary, "podinfo")["metadata"]["resourceVersion"] == \
        primary["metadata"]["resourceVersion"]
    workloads.scale(NS, "podinfo", 0)
    scale = as_dict(api, kubernetes.client.AppsV1Api(api).read_namespaced_deployment_scale("podinfo", NS))
    assert scale["spec"].get("replicas", 0) == 0  # the real server omits a zero (omitempty)
    readiness = workloads.readiness(NS, "podinfo-primary")
    assert readiness is not None
    current = objects.get(DEPLOYMENT, NS, "podinfo-primary")
    assert current is not None
    assert readiness == readiness_of(current)


def test_status_from_a_stale_read_raises_and_controls_are_read(objects: KubeObjects,
                                                                 api: kubernetes.client.ApiClient) -> None:
    canary = create_canary(api)
    statuses = KubeCanaryStatus(objects)
    read = statuses.read(NS, "podinfo")
    assert read is not None
    written = statuses.write(read, {"phase": "Initialized", "canaryWeight": 0})
    assert written["status"]["phase"] == "Initialized"
    with pytest.raises(StaleStatus, match="changed since it was read"):
        statuses.write(read, {"phase": "Progressing", "canaryWeight": 10})
    # A user sets a manual control (kubectl annotate does a merge patch).
    kubernetes.client.CustomObjectsApi(api).patch_namespaced_custom_object(
        "serinus.dev", "v1alpha1", NS, "canaries", "podinfo",
        {"metadata": {"annotations": {"serinus.dev/promote": "2026-11-22T10:00:00Z"}}})
    fresh = statuses.read(NS, "podinfo")
    assert fresh is not None
    with pytest.raises(StaleStatus):
        statuses.write(written, {"phase": "Progressing", "canaryWeight": 10})
    [control] = manual_controls(fresh)
    assert (control.action, control.token) == ("promote", "2026-11-22T10:00:00Z")
    cleared = statuses.clear_controls(fresh, [control])
    assert cleared is not None
    assert "serinus.dev/promote" not in (cleared["metadata"].get("annotations") or {})
    assert cleared["status"]["phase"] == "Initialized"  # a metadata write leaves status alone
    assert canary["metadata"]["uid"] == cleared["metadata"]["uid"]


def test_repeated_events_aggregate(objects: KubeObjects, api: kubernetes.client.ApiClient) -> None:
    canary = create_canary(api)
    events = KubeEvents(objects, instance="serinus-0")
    t0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
    for i in range(3):
        events.emit(canary, "Normal", "Progressing", "advance weight 10", now=t0 + dt.timedelta(seconds=i))
    events.emit(canary, "Warning", "Halted", "request-success-rate 97.2 < 99")
    listed = as_dict(api, kubernetes.client.CoreV1Api(api).list_namespaced_event(NS))["items"]
    counts = sorted((e["reason"], e["type"], e["count"], e["involvedObject"]["uid"]) for e in listed)
    uid = canary["metadata"]["uid"]
    assert counts == [("Halted", "Warning", 1, uid), ("Progressing", "Normal", 3, uid)]
    [progressing] = [e for e in listed if e["reason"] == "Progressing"]
    first = dt.datetime.fromisoformat(progressing["firstTimestamp"])
    assert dt.datetime.fromisoformat(progressing["lastTimestamp"]) - first == dt.timedelta(seconds=2)


class Clock:
    """A shared fake clock: lease expiry is decided by time, never by waiting in a test."""

    def __init__(self) -> None:
        self.t = 0.0

    def wall(self) -> dt.datetime:
        return dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=self.t)

    def mono(self) -> float:
        return self.t


def test_two_lease_contenders_one_leads_then_the_other_takes_over(objects: KubeObjects,
                                                                   api: kubernetes.client.ApiClient) -> None:
    clock = Clock()
    # Separate ApiClients: two replicas each with its own connection.
    other = KubeObjects(kubernetes.client.ApiClient(api.configuration))
    a = LeaderElector(objects, NS, "serinus", "replica-a", duration_seconds=10, clock=clock.wall,
                      monotonic=clock.mono)
    b = LeaderElector(other, NS, "serinus", "replica-b", duration_seconds=10, clock=clock.wall,
                      monotonic=clock.mono)
    leaders = []
    for step in range(4):
        clock.t = step * 3
        leaders.append((a.tick(), b.tick()))
    assert leaders == [(True, False)] * 4
    lease_rv = objects.get(LEASE, NS, "serinus")
    assert lease_rv is not None
    for _ in range(3):  # the follower writes nothing
        b.tick()
    after = objects.get(LEASE, NS, "serinus")
    assert after is not None
    assert after["metadata"]["resourceVersion"] == lease_rv["metadata"]["resourceVersion"]
    # replica-a stops renewing (last renewal at t=9): b takes over at t=19, not before.
    clock.t = 18.9
    assert b.tick() is False
    clock.t = 19
    assert not a.is_leader()
    assert b.tick() is True
    assert a.tick() is False
    lease = as_dict(api, kubernetes.client.CoordinationV1Api(api).read_namespaced_lease("serinus", NS))
    assert lease["spec"]["holderIdentity"] == "replica-b"
    assert lease["spec"]["leaseTransitions"] == 1
