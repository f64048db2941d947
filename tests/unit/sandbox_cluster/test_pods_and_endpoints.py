"""Pure builders of the cluster stand-in: Pods as the kubelet reports them, Endpoints as the Endpoints
controller writes them, and Deployment status writes that keep condition times when nothing changed."""

from __future__ import annotations

from typing import Any

from sandbox.cluster.deployments import merged_status
from sandbox.cluster.endpoints import endpoint_slices, endpoints_manifest
from sandbox.cluster.pods import pod_address, pod_manifest, pod_status
from sandbox.workloads import ContainerState, ReplicaState

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "uid": "u-1"},
    "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app"}]}}},
}


def replica(
    name: str, *, ready: bool = True, port: int = 40001, pid: int | None = 123, reason: str | None = None
) -> ReplicaState:
    container = ContainerState("app", "demo/podinfo:1.0.0", port, ready, 0, pid, reason, None)
    return ReplicaState(
        pod_name=name, deployment_key="shop/web", template_hash="h4sh", ip="127.0.0.1", port=port,
        ports={9898: port, "http": port}, ready=ready, restarts=0, phase="Running" if pid else "Pending",
        reason=reason, message=None, terminating=False, containers=(container,), created=0.0,
    )  # fmt: skip


def pod(state: ReplicaState) -> dict[str, Any]:
    return {**pod_manifest(DEPLOYMENT, state), "status": pod_status(state, {}, "2026-01-01T00:00:00Z")}


def test_a_replica_becomes_a_pod_owned_by_its_deployment_with_its_real_port() -> None:
    built = pod(replica("web-h4sh-abcde"))
    meta = built["metadata"]
    assert meta["labels"] == {"app": "web", "pod-template-hash": "h4sh"}
    assert meta["ownerReferences"][0]["uid"] == "u-1" and meta["ownerReferences"][0]["controller"] is True
    assert built["status"]["podIP"] == "127.0.0.1"
    ready = next(c for c in built["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    address = pod_address(built)
    assert address is not None and address.ready
    assert (address.main_port, address.ports) == (40001, {9898: 40001, "http": 40001})


def test_an_image_that_cannot_run_is_waiting_with_its_reason() -> None:
    built = pod(replica("web-h4sh-xyz", ready=False, pid=None, reason="ErrImagePull"))
    status = built["status"]["containerStatuses"][0]
    assert status["state"] == {"waiting": {"reason": "ErrImagePull"}}
    assert built["status"]["phase"] == "Pending"
    assert next(c for c in built["status"]["conditions"] if c["type"] == "Ready")["status"] == "False"


def test_condition_times_move_only_on_a_transition() -> None:
    state = replica("web-h4sh-abcde")
    kept = pod_status(state, {"Ready=True": "2025-01-01T00:00:00Z"}, "2026-01-01T00:00:00Z")
    assert (
        next(c for c in kept["conditions"] if c["type"] == "Ready")["lastTransitionTime"]
        == "2025-01-01T00:00:00Z"
    )
    old = {"conditions": [{"type": "Available", "status": "True", "reason": "R", "message": "M",
                           "lastUpdateTime": "t0", "lastTransitionTime": "t0"}]}  # fmt: skip
    same = {"conditions": [{**old["conditions"][0], "lastUpdateTime": "t1", "lastTransitionTime": "t1"}]}
    assert merged_status(same, old)["conditions"][0]["lastTransitionTime"] == "t0"
    flipped = {"conditions": [{**same["conditions"][0], "status": "False"}]}
    assert merged_status(flipped, old)["conditions"][0]["lastTransitionTime"] == "t1"


def test_endpoints_list_ready_selected_pods_on_their_resolved_ports() -> None:
    service = {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }
    ready, starting = (
        pod(replica("web-h4sh-a", port=40001)),
        pod(replica("web-h4sh-b", ready=False, port=40002)),
    )
    elsewhere = pod(replica("web-h4sh-c", port=40003))
    elsewhere["metadata"]["namespace"] = "other"
    built = endpoints_manifest(service, [ready, starting, elsewhere])
    assert built is not None
    by_port = {s["ports"][0]["port"]: s for s in built["subsets"]}
    assert set(by_port) == {40001, 40002}
    assert [a["targetRef"]["name"] for a in by_port[40001]["addresses"]] == ["web-h4sh-a"]
    assert "addresses" not in by_port[40002]
    assert [a["targetRef"]["name"] for a in by_port[40002]["notReadyAddresses"]] == ["web-h4sh-b"]
    assert endpoints_manifest({**service, "spec": {"ports": [{"port": 80}]}}, [ready]) is None


def test_endpoint_slices_one_per_port_set_labelled_and_owned_by_the_service() -> None:
    """The EndpointSlice controller's output: `kubernetes.io/service-name` label, an owner reference to
    the Service, IPv4 addresses, and `conditions.ready` false for a Pod that is not ready."""
    service = {
        "metadata": {"name": "web", "namespace": "shop", "uid": "svc-uid", "labels": {"tier": "front"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }
    ready, starting = (
        pod(replica("web-h4sh-a", port=40001)),
        pod(replica("web-h4sh-b", ready=False, port=40002)),
    )
    slices = endpoint_slices(service, [ready, starting])
    assert slices is not None and len(slices) == 2
    by_port = {s["ports"][0]["port"]: s for s in slices}
    assert set(by_port) == {40001, 40002}
    first = by_port[40001]
    assert first["addressType"] == "IPv4"
    assert first["ports"] == [{"name": "http", "port": 40001, "protocol": "TCP"}]
    assert first["metadata"]["labels"] == {
        "tier": "front", "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    assert first["metadata"]["ownerReferences"][0] == {
        "apiVersion": "v1", "kind": "Service", "name": "web", "uid": "svc-uid",
        "controller": True, "blockOwnerDeletion": True,
    }
    (endpoint,) = first["endpoints"]
    assert endpoint["addresses"] == [ready["status"]["podIP"]]
    assert endpoint["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert endpoint["targetRef"]["name"] == "web-h4sh-a"
    assert by_port[40002]["endpoints"][0]["conditions"]["ready"] is False
    # Names are stable for the same ports (a restarted controller finds its slices) and distinct per set.
    again = endpoint_slices(service, [ready, starting])
    assert again is not None
    assert {s["metadata"]["name"] for s in again} == {s["metadata"]["name"] for s in slices}
    assert len({s["metadata"]["name"] for s in slices}) == 2
    assert all(s["metadata"]["name"].startswith("web-") for s in slices)
    assert endpoint_slices({**service, "spec": {"ports": [{"port": 80}]}}, [ready]) is None
    (placeholder,) = endpoint_slices(service, []) or []
    assert placeholder["endpoints"] == [] and "ports" not in placeholder
