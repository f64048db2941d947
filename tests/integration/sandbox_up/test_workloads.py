"""`sandbox up` gives a cluster that runs Deployments: kubectl works, replicas become processes and Pods,
Deployment status is written as the Deployment controller would, and scaling to 0 stops the processes.

Pins: ``kubectl --kubeconfig DIR/kubeconfig get ns`` lists the sandbox namespace; a Deployment of
``demo/podinfo:1.0.0`` with 2 replicas yields 2 live demo-app processes, 2 Ready Pods named
``<deployment>-<pod-template-hash>-<suffix>`` with ``podIP`` 127.0.0.1, Endpoints and EndpointSlices
(labelled ``kubernetes.io/service-name``, owned by the Service) listing both, and ``readyReplicas: 2``
with ``observedGeneration`` matching; scaling to 0 ends those processes, removes the Pods and leaves
one empty placeholder EndpointSlice, as the EndpointSlice controller does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.processes import ProcessRecord, is_alive
from sandbox.session import Sandbox
from tests.integration.sandbox_up.conftest import deployment, eventually, service

pytestmark = pytest.mark.integration


def test_kubectl_lists_the_sandbox_namespace(sandbox: Sandbox) -> None:
    result = sandbox.kubectl("get", "namespaces", "-o", "name")
    assert f"namespace/{sandbox.namespace}" in result.stdout.split()


def _app_processes(sandbox: Sandbox, prefix: str) -> dict[str, ProcessRecord]:
    return {
        name: record
        for name, record in sandbox.processes().items()
        if name.startswith(f"app:{prefix}-") and is_alive(record)
    }


def _pods(sandbox: Sandbox, app: str) -> list[dict[str, Any]]:
    return sandbox.list("v1", "Pod", selector=f"app={app}")


def _slices(sandbox: Sandbox, service: str) -> list[dict[str, Any]]:
    label = f"kubernetes.io/service-name={service}"
    return sandbox.list("discovery.k8s.io/v1", "EndpointSlice", selector=label)


def test_replicas_become_processes_pods_and_status_and_scale_to_zero(sandbox: Sandbox) -> None:
    name = "web"
    sandbox.apply([deployment(name, "demo/podinfo:1.0.0", replicas=2), service(name, {"app": name})])

    def ready() -> dict[str, Any] | None:
        current = sandbox.get("apps/v1", "Deployment", name)
        status = (current or {}).get("status") or {}
        return current if status.get("readyReplicas") == 2 else None

    stored = eventually(ready, "readyReplicas 2")
    status = stored["status"]
    assert status["observedGeneration"] == stored["metadata"]["generation"]
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (2, 2, 2)
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Available": "True",
        "Progressing": "True",
    }

    def two_processes() -> dict[str, ProcessRecord] | None:
        found = _app_processes(sandbox, name)
        return found if len(found) == 2 else None

    processes = eventually(two_processes, "two recorded app processes")
    for record in processes.values():
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes().split(b"\0")
        assert b"sandbox.demoapp" in cmdline and b"1.0.0" in cmdline

    pods = _pods(sandbox, name)
    assert len(pods) == 2
    template_hash = pods[0]["metadata"]["labels"]["pod-template-hash"]
    for pod in pods:
        assert pod["metadata"]["name"].startswith(f"{name}-{template_hash}-")
        assert f"app:{pod['metadata']['name']}" in processes
        assert pod["status"]["podIP"] == "127.0.0.1"
        assert pod["status"]["phase"] == "Running"
        assert {"type": "Ready", "status": "True"}.items() <= next(
            c for c in pod["status"]["conditions"] if c["type"] == "Ready"
        ).items()
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0

    def both_listed() -> dict[str, Any] | None:
        found = sandbox.get("v1", "Endpoints", name) or {}
        addresses = [a for s in found.get("subsets") or [] for a in s.get("addresses") or []]
        return found if len(addresses) == 2 else None

    endpoints = eventually(both_listed, "Endpoints listing both ready pods")
    assert {a["targetRef"]["name"] for s in endpoints["subsets"] for a in s["addresses"]} == {
        p["metadata"]["name"] for p in pods
    }
    # EndpointSlices, found by the label the EndpointSlice controller sets, list the same ready pods.
    slices = _slices(sandbox, name)
    ready_in_slices = {
        e["targetRef"]["name"] for s in slices for e in s["endpoints"] if e["conditions"]["ready"]
    }
    assert ready_in_slices == {p["metadata"]["name"] for p in pods}
    assert all(s["metadata"]["ownerReferences"][0]["name"] == name for s in slices)

    sandbox.apply(deployment(name, "demo/podinfo:1.0.0", replicas=0))
    eventually(lambda: not _pods(sandbox, name), "no Pods after scaling to 0")

    def placeholder_only() -> list[dict[str, Any]] | None:
        found = _slices(sandbox, name)
        return found if len(found) == 1 and not found[0]["endpoints"] else None

    eventually(placeholder_only, "one empty EndpointSlice once no pod is left")
    eventually(lambda: not any(is_alive(r) for r in processes.values()), "the app processes stopped")

    def scaled_down() -> dict[str, Any] | None:
        found = sandbox.get("apps/v1", "Deployment", name) or {}
        return found if (found.get("status") or {}).get("replicas") == 0 else None

    final = eventually(scaled_down, "status replicas 0")
    assert final["status"]["readyReplicas"] == 0
    assert final["status"]["observedGeneration"] == final["metadata"]["generation"]


def test_an_unknown_image_is_reported_like_err_image_pull(sandbox: Sandbox) -> None:
    name = "ghost"
    sandbox.apply(deployment(name, "demo/does-not-exist:9.9.9"))

    def waiting() -> dict[str, Any] | None:
        pods = _pods(sandbox, name)
        statuses = pods[0]["status"].get("containerStatuses") if pods else None
        return statuses[0] if statuses else None

    container = eventually(waiting, "a Pod with a container status")
    assert container["state"]["waiting"]["reason"] == "ErrImagePull"
    assert container["ready"] is False
    assert not _app_processes(sandbox, name)
    sandbox.delete("apps/v1", "Deployment", name)
    eventually(lambda: not _pods(sandbox, name), "the Pod removed with its Deployment")
