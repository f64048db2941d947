"""Pod status as the kubelet writes it, and the Node, Lease and Event objects the node writes.

Pins: the phase follows the kubelet's ``getPhase`` (a never-started container keeps a Pod Pending, a
restarting one keeps it Running, terminal phases per policy and on deletion); Ready and
ContainersReady follow the containers (and readiness gates), with the kubelet's reasons; condition
transition times are kept while a status holds, so an unchanged Pod gives an identical status;
container statuses carry state, lastState, restartCount and IDs. The Node is registered Ready with
capacity, addresses and nodeInfo, keeps transition times across heartbeats; the Lease is held by
the node for 40 s and owned by its Node; Events name the container's field path.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.node.events import pod_event
from sandbox.node.podspec import RestartPolicy
from sandbox.node.registration import (
    Capacity,
    NodeInfo,
    architecture,
    lease_manifest,
    micro_time,
    node_manifest,
    node_status,
)
from sandbox.node.status import (
    ContainerReport,
    PodReport,
    Running,
    Terminated,
    Waiting,
    pod_phase,
    pod_status,
)

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"
RUNNING = Running(T0)
CRASHED = Terminated(1, "Error", T0, T1, "sandbox://10-1")
DONE = Terminated(0, "Completed", T0, T1, "sandbox://10-1")


def container(
    state: Any, *, ready: bool = False, last: Terminated | None = None, restarts: int = 0
) -> ContainerReport:
    return ContainerReport("app", "demo/podinfo:1.0.0", state, ready, restarts, last, "sandbox://11-2")


@pytest.mark.parametrize(
    ("policy", "states", "terminal", "phase"),
    [
        ("Always", [container(Waiting("ContainerCreating"))], False, "Pending"),
        ("Always", [container(Waiting("ErrImagePull")), container(RUNNING)], False, "Pending"),
        ("Always", [container(RUNNING)], False, "Running"),
        ("Always", [container(Waiting("CrashLoopBackOff"), last=CRASHED)], False, "Running"),
        ("Never", [container(CRASHED)], False, "Failed"),
        ("Never", [container(DONE)], False, "Succeeded"),
        ("OnFailure", [container(Waiting("CrashLoopBackOff"), last=CRASHED)], False, "Running"),
        ("OnFailure", [container(DONE)], False, "Succeeded"),
        ("Always", [container(Terminated(143, "Error", T0, T1))], True, "Failed"),
        ("Always", [container(DONE)], True, "Succeeded"),
    ],
)
def test_phase_follows_the_kubelet(
    policy: RestartPolicy, states: list[ContainerReport], terminal: bool, phase: str
) -> None:
    assert pod_phase(policy, states, terminal) == phase


def report(*containers: ContainerReport, **fields: Any) -> PodReport:
    base: dict[str, Any] = {
        "restart_policy": "Always", "containers": containers, "host_ip": "127.0.0.1", "start_time": T0,
        "pod_ip": "198.18.0.2", "sandbox_ready": True, "generation": 3,
    }  # fmt: skip
    return PodReport(**{**base, **fields})


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_a_ready_pod_reports_ips_conditions_and_its_container() -> None:
    status = pod_status(report(container(RUNNING, ready=True)), [], T0)
    assert status["phase"] == "Running"
    assert status["podIP"] == "198.18.0.2" and status["podIPs"] == [{"ip": "198.18.0.2"}]
    assert status["hostIP"] == "127.0.0.1" and status["hostIPs"] == [{"ip": "127.0.0.1"}]
    assert status["startTime"] == T0 and status["observedGeneration"] == 3
    found = conditions(status)
    assert set(found) == {"PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"}
    assert all(c["status"] == "True" and c["observedGeneration"] == 3 for c in found.values())
    assert status["containerStatuses"] == [{
        "name": "app", "image": "demo/podinfo:1.0.0", "imageID": "sandbox://demo/podinfo:1.0.0",
        "ready": True, "started": True, "restartCount": 0, "state": {"running": {"startedAt": T0}},
        "lastState": {}, "containerID": "sandbox://11-2",
    }]  # fmt: skip
    assert "qosClass" not in status  # set by the API server at creation, immutable


def test_an_unready_pod_names_its_unready_containers() -> None:
    status = pod_status(report(container(RUNNING)), [], T0)
    ready = conditions(status)["Ready"]
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [app]"


def test_transition_times_are_kept_while_a_condition_holds() -> None:
    first = pod_status(report(container(RUNNING, ready=True)), [], T0)
    again = pod_status(report(container(RUNNING, ready=True)), first["conditions"], T1)
    assert again == first  # nothing changed: nothing to write
    unready = pod_status(report(container(RUNNING)), first["conditions"], T1)
    assert conditions(unready)["Ready"]["lastTransitionTime"] == T1
    assert conditions(unready)["Initialized"]["lastTransitionTime"] == T0


def test_a_crash_loop_shows_waiting_last_state_and_restarts() -> None:
    status = pod_status(
        report(container(Waiting("CrashLoopBackOff", "back-off 1s"), last=CRASHED, restarts=2)), [], T0
    )
    entry = status["containerStatuses"][0]
    assert entry["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1s"}}
    assert entry["lastState"] == {"terminated": {
        "exitCode": 1, "reason": "Error", "startedAt": T0, "finishedAt": T1, "containerID": "sandbox://10-1",
    }}  # fmt: skip
    assert entry["restartCount"] == 2 and entry["started"] is False


def test_a_terminal_pod_is_not_ready_with_reason_pod_completed() -> None:
    status = pod_status(report(container(DONE), terminal=True, sandbox_ready=False), [], T0)
    assert status["phase"] == "Succeeded"
    assert conditions(status)["Ready"]["reason"] == "PodCompleted"
    assert conditions(status)["PodReadyToStartContainers"]["status"] == "False"
    assert status["podIP"] == "198.18.0.2"  # a finished Pod keeps its IP in its status


def test_readiness_gates_hold_back_ready() -> None:
    gated = report(container(RUNNING, ready=True), readiness_gates=("example.com/lb",))
    held = conditions(pod_status(gated, [], T0, {}))
    assert held["ContainersReady"]["status"] == "True" and held["Ready"]["reason"] == "ReadinessGatesNotReady"
    assert conditions(pod_status(gated, [], T0, {"example.com/lb": "True"}))["Ready"]["status"] == "True"


INFO = NodeInfo("m-1", "b-1", "6.1.0", "Debian GNU/Linux 12 (bookworm)", architecture("x86_64"))


def test_the_node_registers_ready_with_capacity_addresses_and_node_info() -> None:
    node = node_manifest("sandbox", "127.0.0.1", INFO, Capacity(), now_iso=T0)
    assert node["metadata"]["name"] == "sandbox" and node["spec"] == {}
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "sandbox"
    status = node["status"]
    assert status["capacity"] == status["allocatable"]
    assert {k: status["capacity"][k] for k in ("cpu", "memory", "pods")} == {
        "cpu": "8",
        "memory": "16Gi",
        "pods": "110",
    }
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    ready = conditions(status)["Ready"]
    assert (
        ready["status"] == "True" and ready["reason"] == "KubeletReady" and ready["lastHeartbeatTime"] == T0
    )
    assert status["nodeInfo"]["kubeletVersion"] == "v1.37.2" and status["nodeInfo"]["architecture"] == "amd64"


def test_a_heartbeat_is_new_but_the_transition_is_kept() -> None:
    first = node_status("sandbox", "127.0.0.1", INFO, Capacity(), now_iso=T0)
    later = node_status("sandbox", "127.0.0.1", INFO, Capacity(), now_iso=T1, previous=first["conditions"])
    ready = conditions(later)["Ready"]
    assert ready["lastHeartbeatTime"] == T1 and ready["lastTransitionTime"] == T0


def test_the_lease_is_held_by_the_node_and_owned_by_its_node_object() -> None:
    lease = lease_manifest("sandbox", "node-uid", 0.0)
    assert lease["metadata"] == {
        "name": "sandbox", "namespace": "kube-node-lease",
        "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "sandbox", "uid": "node-uid"}],
    }  # fmt: skip
    assert lease["spec"] == {"holderIdentity": "sandbox", "leaseDurationSeconds": 40,
                             "renewTime": "1970-01-01T00:00:00.000000Z"}  # fmt: skip
    assert micro_time(1.5) == "1970-01-01T00:00:01.500000Z"


def test_an_event_names_the_pod_and_the_containers_field_path() -> None:
    pod = {"metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1"}}
    event = pod_event(pod, "sandbox", "Normal", "Started", "Started container app", now=0.0, container="app")
    assert event["metadata"]["namespace"] == "shop" and event["metadata"]["name"].startswith("web-1.")
    assert event["involvedObject"] == {
        "apiVersion": "v1", "kind": "Pod", "namespace": "shop", "name": "web-1", "uid": "u-1",
        "fieldPath": "spec.containers{app}",
    }  # fmt: skip
    assert event["source"] == {"component": "kubelet", "host": "sandbox"} and event["type"] == "Normal"
