"""The process node on the real control plane: the real controllers make and publish Pods, it runs them.

Pins: the Node ``sandbox`` is Ready, untainted, with its Lease held and renewed and its heartbeat
refreshed; a Deployment's Pods (made by the real ReplicaSet controller, bound by the real scheduler)
run on distinct 198.18.x.y addresses added to ``lo``, answer HTTP on their declared port, become
Ready, make the Deployment available, and appear ready in the real EndpointSlice controller's slice;
a killed container is restarted (``restartCount`` 1, ``lastState`` terminated) and ready again;
scaling to 0 and deleting the namespace stop every process and remove every address (the node
deletes the Pods itself once their processes stopped); restart policies end Pods Failed or
Succeeded or crash-loop them; an unknown image waits ``ErrImagePull``; container environments
resolve ConfigMap, Secret and field references; ``on_processes`` reports the PIDs and the node's
stop leaves no process and no address behind.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from sandbox.cluster.rest import RawApi
from sandbox.kubernetes.controlplane import ControlPlane
from sandbox.node import ProcessNode
from sandbox.processes import ProcessRecord, is_alive
from tests.integration.node.conftest import (
    EXIT_IMAGE,
    PORT,
    create_namespace,
    delete_namespace,
    deployment,
    is_ready,
    lo_addresses,
    pods,
    wait_gone,
)
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.real_control_plane]

POD_NET = "198.18."
STOP_NODE = "stop-test"


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind)


def ready_pods(admin: RawApi, namespace: str, count: int) -> list[dict[str, Any]]:
    def probe() -> list[dict[str, Any]] | None:
        found = [p for p in pods(admin, namespace) if not p["metadata"].get("deletionTimestamp")]
        return found if len(found) == count and all(is_ready(p) for p in found) else None

    return eventually(probe, f"{count} ready Pods in {namespace}", timeout=60)


def records(node: ProcessNode, namespace: str) -> list[ProcessRecord]:
    return [
        ProcessRecord.of(pid)
        for key, pids in node.processes().items()
        if key.startswith(f"{namespace}/")
        for pid in pids
    ]


def running_processes(node: ProcessNode, namespace: str, count: int) -> list[ProcessRecord]:
    def probe() -> list[ProcessRecord] | None:
        found = records(node, namespace)
        return found if len(found) == count else None

    return eventually(probe, f"{count} container processes in {namespace}")


def test_the_node_is_ready_untainted_and_keeps_its_lease(process_node: ProcessNode, admin: RawApi) -> None:
    registered = admin.request("GET", "/api/v1/nodes/sandbox")
    assert condition(registered, "Ready")["status"] == "True"
    assert registered["status"]["nodeInfo"]["kubeletVersion"] == "v1.37.2"
    assert registered["status"]["capacity"]["pods"] == "110"
    lease_path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/sandbox"
    lease = admin.request("GET", lease_path)
    assert lease["spec"]["holderIdentity"] == "sandbox" and lease["spec"]["leaseDurationSeconds"] == 40
    first_renewal = lease["spec"]["renewTime"]
    first_heartbeat = condition(registered, "Ready")["lastHeartbeatTime"]
    eventually(
        lambda: admin.request("GET", lease_path)["spec"]["renewTime"] != first_renewal, "a Lease renewal"
    )
    eventually(
        lambda: (
            condition(admin.request("GET", "/api/v1/nodes/sandbox"), "Ready")["lastHeartbeatTime"]
            != first_heartbeat
        ),
        "a fresh Ready heartbeat",
    )
    now = admin.request("GET", "/api/v1/nodes/sandbox")
    assert condition(now, "Ready")["status"] == "True"
    assert not [t for t in now["spec"].get("taints") or [] if t["key"].startswith("node.kubernetes.io/")]


def test_a_deployment_runs_on_its_own_addresses_and_is_published(
    process_node: ProcessNode, admin: RawApi
) -> None:
    namespace = create_namespace(admin, "node-deploy")
    admin.create(f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment("podinfo"))
    admin.create(f"/api/v1/namespaces/{namespace}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "podinfo"},
        "spec": {"selector": {"app": "podinfo"}, "ports": [{"port": 80, "targetPort": "http"}]},
    })  # fmt: skip
    running = ready_pods(admin, namespace, 2)
    ips = {p["status"]["podIP"] for p in running}
    assert len(ips) == 2 and all(ip.startswith(POD_NET) for ip in ips)
    assert ips <= lo_addresses()
    for pod in running:
        assert pod["spec"]["nodeName"] == "sandbox"  # bound by the real scheduler
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        status = pod["status"]
        assert status["phase"] == "Running" and status["hostIP"] == "127.0.0.1" and status["startTime"]
        assert status["podIPs"] == [{"ip": status["podIP"]}]
        (container,) = status["containerStatuses"]
        assert container["ready"] and container["started"] and container["restartCount"] == 0
        assert "running" in container["state"] and container["image"] == "demo/podinfo:1.0.0"
        with urllib.request.urlopen(f"http://{status['podIP']}:{PORT}/", timeout=5) as answer:
            assert json.loads(answer.read())["version"] == "1.0.0"

    def available() -> bool:
        status = admin.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/podinfo")["status"]
        return bool(status.get("availableReplicas") == 2 and status.get("readyReplicas") == 2)

    eventually(available, "the Deployment to report 2 available replicas", timeout=60)

    def published() -> bool:
        slices = admin.request(
            "GET", f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
            query=[("labelSelector", "kubernetes.io/service-name=podinfo")],
        )["items"]  # fmt: skip
        endpoints = [e for s in slices for e in s.get("endpoints") or []]
        ports = {p["port"] for s in slices for p in s.get("ports") or []}
        ready = {a for e in endpoints if e["conditions"].get("ready") for a in e["addresses"]}
        return bool(ready == ips and ports == {PORT})

    eventually(published, "an EndpointSlice listing both Pod IPs ready on 9898", timeout=60)
    delete_namespace(admin, namespace)


def test_a_killed_container_restarts_and_is_ready_again(process_node: ProcessNode, admin: RawApi) -> None:
    namespace = create_namespace(admin, "node-restart")
    admin.create(f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment("podinfo", replicas=1))
    (pod,) = ready_pods(admin, namespace, 1)
    key = f"{namespace}/{pod['metadata']['name']}"
    (pid,) = eventually(lambda: process_node.processes().get(key), f"the PID of {key}")
    os.kill(pid, signal.SIGKILL)

    def restarted() -> dict[str, Any] | None:
        (current,) = pods(admin, namespace)
        container = current["status"]["containerStatuses"][0]
        return current if container["restartCount"] == 1 and is_ready(current) else None

    again = eventually(restarted, "the container to restart and be ready again", timeout=60)
    container = again["status"]["containerStatuses"][0]
    assert container["lastState"]["terminated"]["exitCode"] == 137
    assert again["status"]["podIP"] == pod["status"]["podIP"]  # the Pod keeps its address
    (new_pid,) = process_node.processes()[key]
    assert new_pid != pid
    delete_namespace(admin, namespace)


def test_scaling_to_zero_and_deleting_the_namespace_stop_everything(
    process_node: ProcessNode, admin: RawApi, node_processes: list[dict[str, list[int]]]
) -> None:
    namespace = create_namespace(admin, "node-scale")
    admin.create(f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment("podinfo", replicas=3))
    running = ready_pods(admin, namespace, 3)
    ips = {p["status"]["podIP"] for p in running}
    processes = running_processes(process_node, namespace, 3)
    assert all(is_alive(r) for r in processes)
    reported = node_processes[-1]
    assert {pid for key, pids in reported.items() if key.startswith(namespace) for pid in pids} == {
        r.pid for r in processes
    }

    admin.merge_patch(f"/apis/apps/v1/namespaces/{namespace}/deployments/podinfo", {"spec": {"replicas": 0}})
    eventually(
        lambda: not pods(admin, namespace), "the node to delete every Pod after stopping it", timeout=60
    )
    assert not any(is_alive(r) for r in processes)
    eventually(lambda: not ips & lo_addresses(), "the Pod addresses to leave lo")

    admin.merge_patch(f"/apis/apps/v1/namespaces/{namespace}/deployments/podinfo", {"spec": {"replicas": 2}})
    again = ready_pods(admin, namespace, 2)
    ips = {p["status"]["podIP"] for p in again}
    processes = running_processes(process_node, namespace, 2)
    admin.delete(f"/api/v1/namespaces/{namespace}")
    wait_gone(admin, namespace)
    assert not any(is_alive(r) for r in processes)
    assert not ips & lo_addresses()
    assert not [key for key in process_node.processes() if key.startswith(namespace)]


def bare_pod(name: str, image: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "app", "image": image, **spec.pop("container", {})}],
            "terminationGracePeriodSeconds": 3,
            **spec,
        },
    }


def test_restart_policies_and_unknown_images(process_node: ProcessNode, admin: RawApi) -> None:
    namespace = create_namespace(admin, "node-policy")
    path = f"/api/v1/namespaces/{namespace}/pods"
    admin.create(path, bare_pod("fails", f"{EXIT_IMAGE}:3", restartPolicy="Never"))
    admin.create(path, bare_pod("succeeds", f"{EXIT_IMAGE}:0", restartPolicy="OnFailure"))
    admin.create(path, bare_pod("loops", f"{EXIT_IMAGE}:1", restartPolicy="Always"))
    admin.create(path, bare_pod("unknown", "docker.io/library/nginx:1.27"))

    def pod(name: str) -> dict[str, Any]:
        return admin.request("GET", f"{path}/{name}")

    def phase(name: str, wanted: str) -> dict[str, Any] | None:
        current = pod(name)
        return current if current.get("status", {}).get("phase") == wanted else None

    failed = eventually(lambda: phase("fails", "Failed"), "the Never Pod to fail", timeout=60)
    assert failed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    succeeded = eventually(lambda: phase("succeeds", "Succeeded"), "the OnFailure Pod to succeed", timeout=60)
    assert succeeded["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"

    def crash_looping() -> bool:
        container = (pod("loops").get("status") or {}).get("containerStatuses", [{}])[0]
        waiting = (container.get("state") or {}).get("waiting") or {}
        return container.get("restartCount", 0) >= 2 and waiting.get("reason") == "CrashLoopBackOff"

    eventually(crash_looping, "the Always Pod to crash-loop", timeout=60)
    assert pod("loops")["status"]["phase"] == "Running"

    def image_error() -> bool:
        container = (pod("unknown").get("status") or {}).get("containerStatuses", [{}])[0]
        waiting = (container.get("state") or {}).get("waiting") or {}
        return waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff") and "nginx" in waiting.get(
            "message", ""
        )

    eventually(image_error, "the unknown image to wait ErrImagePull", timeout=60)
    assert pod("unknown")["status"]["phase"] == "Pending"
    assert not [k for k in process_node.processes() if k == f"{namespace}/unknown"]
    delete_namespace(admin, namespace)


def test_container_environment_resolves_references(process_node: ProcessNode, admin: RawApi) -> None:
    namespace = create_namespace(admin, "node-env")
    admin.create(f"/api/v1/namespaces/{namespace}/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"color": "blue"},
    })  # fmt: skip
    admin.create(f"/api/v1/namespaces/{namespace}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
        "data": {"password": base64.b64encode(b"s3cret").decode()},
    })  # fmt: skip
    env = [
        {"name": "PLAIN", "value": "1"},
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "color"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    container = {"env": env, "ports": [{"containerPort": PORT}]}
    admin.create(
        f"/api/v1/namespaces/{namespace}/pods", bare_pod("env", "demo/podinfo:1.0.0", container=container)
    )
    key = f"{namespace}/env"
    (pid,) = eventually(lambda: process_node.processes().get(key), "the env Pod's process", timeout=60)
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
    ip = admin.request("GET", f"/api/v1/namespaces/{namespace}/pods/env")["status"].get("podIP")
    assert {k: found[k] for k in ("PLAIN", "COLOR", "PASSWORD", "POD_IP", "POD_NAME")} == {
        "PLAIN": "1", "COLOR": "blue", "PASSWORD": "s3cret", "POD_IP": ip, "POD_NAME": "env",
    }  # fmt: skip

    admin.create(f"/api/v1/namespaces/{namespace}/pods", bare_pod("missing", "demo/podinfo:1.0.0", container={
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}],
    }))  # fmt: skip

    def config_error() -> bool:
        status = admin.request("GET", f"/api/v1/namespaces/{namespace}/pods/missing").get("status") or {}
        waiting = ((status.get("containerStatuses") or [{}])[0].get("state") or {}).get("waiting") or {}
        return waiting.get("reason") == "CreateContainerConfigError"

    eventually(config_error, "a CreateContainerConfigError for a missing ConfigMap", timeout=60)
    delete_namespace(admin, namespace)


def test_a_deleted_pod_is_stopped_and_removed_by_the_node(process_node: ProcessNode, admin: RawApi) -> None:
    namespace = create_namespace(admin, "node-grace")
    path = f"/api/v1/namespaces/{namespace}/pods"
    admin.create(path, bare_pod("web", "demo/podinfo:1.0.0", container={"ports": [{"containerPort": PORT}]}))
    key = f"{namespace}/web"
    (pid,) = eventually(lambda: process_node.processes().get(key), "the Pod's process", timeout=60)
    record = ProcessRecord.of(pid)
    admin.delete(f"{path}/web", {"gracePeriodSeconds": 20})

    def gone() -> bool:
        try:
            admin.request("GET", f"{path}/web")
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    eventually(gone, "the node to delete the Pod once its process stopped", timeout=30)
    assert not is_alive(record)
    events = admin.request("GET", f"/api/v1/namespaces/{namespace}/events")["items"]
    assert {"Started", "Killing"} <= {
        e["reason"] for e in events if e["source"].get("component") == "kubelet"
    }
    delete_namespace(admin, namespace)


def test_stopping_a_node_leaves_no_process_and_no_address(
    kube_control_plane: ControlPlane, process_node: ProcessNode, admin: RawApi, tmp_path: Path
) -> None:
    # the session's node keeps running for other tests: stop a second one, named otherwise, whose
    # Pods are bound to it by name (it acts as admin, since system:node:sandbox may only be "sandbox")
    other = ProcessNode.from_kubeconfig(
        kube_control_plane.kubeconfig, tmp_path, config=process_node.config, name=STOP_NODE, stop_grace=3.0
    ).start()
    namespace = create_namespace(admin, "node-stop")
    try:
        for name in ("one", "two"):
            bound = bare_pod(
                name, "demo/podinfo:1.0.0", nodeName=STOP_NODE, container={"ports": [{"containerPort": PORT}]}
            )
            admin.create(f"/api/v1/namespaces/{namespace}/pods", bound)
        running = ready_pods(admin, namespace, 2)
        ips = {p["status"]["podIP"] for p in running}
        assert not ips & set(process_node.pod_addresses().values())  # each node skips the other's addresses
        processes = running_processes(other, namespace, 2)
        other.stop()
        assert not any(is_alive(r) for r in processes)
        assert not ips & lo_addresses()
        assert json.loads((tmp_path / "addresses.json").read_text())["addresses"] == []
        assert json.loads((tmp_path / "processes.json").read_text()) == {}
        assert set(process_node.pod_addresses().values()) <= lo_addresses()  # the other node's are kept
    finally:
        other.stop()
        for pod in pods(admin, namespace):  # no node runs them now: force-delete them
            admin.delete(
                f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}", {"gracePeriodSeconds": 0}
            )
        admin.delete(f"/api/v1/namespaces/{namespace}")
        admin.delete(f"/api/v1/nodes/{STOP_NODE}")
