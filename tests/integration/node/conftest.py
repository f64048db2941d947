"""Helpers for the process node's tests on the real control plane: admin calls, namespaces, ``lo``.

The control plane and the node are the session's ``kube_control_plane`` (it fails, never skips, when
the binaries are not built) and ``process_node`` (:mod:`sandbox.kubernetes.testing`): one node
``sandbox`` for the whole session, since two processes claiming one node name would both run its
Pods. It runs in-process as ``system:node:sandbox``, so the Node authorizer and NodeRestriction judge
every call it makes, and renews its Lease every second and its status every three, so a test sees
both move without waiting a kubelet's ten seconds.
"""

from __future__ import annotations

import subprocess
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from sandbox.cluster.rest import RawApi
from sandbox.kubernetes.controlplane import ControlPlane
from sandbox.kubernetes.testing import unique_namespace
from sandbox.node.addresses import addresses_in
from tests.polling import eventually

PORT = 9898
EXIT_IMAGE = "demo/exit"
"""``demo/exit:<code>``: a process that exits with ``<code>`` after a moment (in the session node's
test images, :data:`sandbox.kubernetes.testing.TEST_IMAGES`)."""


@pytest.fixture(scope="module")
def admin(kube_control_plane: ControlPlane) -> RawApi:
    """The cluster as ``system:masters``."""
    client = kubernetes.config.new_client_from_config(config_file=str(kube_control_plane.kubeconfig))  # type: ignore[no-untyped-call]
    return RawApi(client)


def create_namespace(admin: RawApi, prefix: str) -> str:
    """A fresh namespace, returned once its ``default`` ServiceAccount exists (Pods need it)."""
    name = unique_namespace(prefix)
    admin.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def service_account() -> bool:
        try:
            admin.request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default")
        except ApiException:
            return False
        return True

    eventually(service_account, f"the default ServiceAccount of {name}", timeout=30)
    return name


def deployment(name: str, image: str = "demo/podinfo:1.0.0", replicas: int = 2) -> dict[str, Any]:
    """A Deployment of one container declaring port 9898 and an HTTP readiness probe on it."""
    container = {
        "name": "app",
        "image": image,
        "ports": [{"name": "http", "containerPort": PORT}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 5},
            },
        },
    }


def pods(admin: RawApi, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
    """The Pods of a namespace (optionally matching a label selector)."""
    query = [("labelSelector", selector)] if selector else []
    return list(admin.request("GET", f"/api/v1/namespaces/{namespace}/pods", query=query).get("items") or [])


def is_ready(pod: dict[str, Any]) -> bool:
    """The Pod's Ready condition is True."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def lo_addresses() -> set[str]:
    """The IPv4 addresses on ``lo`` (``ip -4 addr show dev lo``)."""
    shown = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True, check=True
    )
    return addresses_in(shown.stdout)


def wait_gone(admin: RawApi, namespace: str, timeout: float = 60.0) -> None:
    """Until the namespace is deleted entirely (its Pods deleted by the node first)."""

    def gone() -> bool:
        try:
            admin.request("GET", f"/api/v1/namespaces/{namespace}")
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    eventually(gone, f"namespace {namespace} to be deleted", timeout=timeout)


def delete_namespace(admin: RawApi, namespace: str) -> None:
    """Delete a test's namespace and wait until the node deleted its Pods (the namespace itself goes a
    while later: the namespace controller waits out the Pods' grace periods before it looks again)."""
    admin.delete(f"/api/v1/namespaces/{namespace}")
    eventually(lambda: not pods(admin, namespace), f"the Pods of {namespace} to be deleted", timeout=60)
