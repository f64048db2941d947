"""The real control plane for tests: ``kube_control_plane`` and its node ``process_node``, one each
per test session.

Its binaries must have been built (``./dev setup``); when they are missing the fixture fails with
that message, it never skips. Tests share the one control plane, so each works in namespaces of its
own (:func:`unique_namespace`) or deletes what it made. There is one node, ``sandbox``, for the whole
session (two processes claiming one node name would both run its Pods); its image table is the
sandbox's plus :data:`TEST_IMAGES`.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from sandbox.config import DEFAULT_CONFIG_PATH, SandboxConfig, parse_sandbox_config
from sandbox.kubernetes.controlplane import ControlPlane, check_built
from sandbox.node import BackOff, ProcessNode

ON_KUBERNETES = pytest.param("kubernetes", marks=pytest.mark.real_control_plane)
"""The ``kubernetes`` parameter of a fixture that runs each test on the emulator and the real server:
``@pytest.fixture(params=["emulator", ON_KUBERNETES])``."""
SERVERS = ["emulator", ON_KUBERNETES]

TEST_IMAGES: dict[str, dict[str, Any]] = {
    "ghcr.io/acme/podinfo:*": {"command": "demoapp", "error_rate": 0, "latency_ms": 5},
    "demo/exit:*": {"command": "exit"},
}
"""Images the tests' Deployments name besides the sandbox's: the README's podinfo, and ``demo/exit:<code>``,
a process that exits with ``<code>`` after a moment (restart-policy tests)."""


@pytest.fixture(scope="session")
def kube_control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd, kube-apiserver, kube-controller-manager and kube-scheduler, started once per session."""
    check_built()  # NotBuilt: fail with the command that builds them
    plane = ControlPlane(tmp_path_factory.mktemp("kubernetes")).start()
    try:
        yield plane
    finally:
        plane.stop()


def unique_namespace(prefix: str) -> str:
    """A namespace name no other test uses."""
    return f"{prefix}-{secrets.token_hex(3)}"


def test_node_config() -> SandboxConfig:
    """The sandbox's image table plus :data:`TEST_IMAGES`."""
    data: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    data["commands"]["exit"] = ["{python}", "-c", "import sys, time; time.sleep(0.3); sys.exit(int('{tag}'))"]
    data["images"].update(TEST_IMAGES)
    return parse_sandbox_config(data, "test images")


test_node_config.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@pytest.fixture(scope="session")
def node_processes() -> list[dict[str, list[int]]]:
    """Every ``on_processes`` report of the session's node, in order."""
    return []


@pytest.fixture(scope="session")
def process_node(
    kube_control_plane: ControlPlane,
    tmp_path_factory: pytest.TempPathFactory,
    node_processes: list[dict[str, list[int]]],
) -> Iterator[ProcessNode]:
    """The node ``sandbox`` as ``system:node:sandbox``, with short Lease and status periods so that
    tests see both move, stopped (every process and Pod address gone) at the end of the session."""
    node = ProcessNode.from_kubeconfig(
        kube_control_plane.kubeconfig_for("node"),
        tmp_path_factory.mktemp("node"),
        config=test_node_config(),
        on_processes=node_processes.append,
        lease_seconds=1.0,
        status_seconds=3.0,
        backoff=BackOff(initial=0.5, cap=2.0),
        stop_grace=3.0,
    ).start()
    try:
        yield node
    finally:
        node.stop()


def release_namespace(api: kubernetes.client.ApiClient, namespace: str) -> None:
    """Delete a test's namespace on the shared server without waiting on its graceful Pods.

    Canaries first lose the finalizer a stopped operator would never remove; then the workloads go,
    so that no ReplicaSet makes new Pods; then the Pods at once (the node stops their processes when
    it sees the deletion); then the namespace, whose controller so has nothing left to wait for."""
    objs: Any = kubernetes.client.CustomObjectsApi(api)
    apps: Any = kubernetes.client.AppsV1Api(api)
    core: Any = kubernetes.client.CoreV1Api(api)
    with contextlib.suppress(ApiException):
        for canary in objs.list_namespaced_custom_object("serinus.dev", "v1alpha1", namespace, "canaries")[
            "items"
        ]:
            with contextlib.suppress(ApiException):
                objs.patch_namespaced_custom_object(
                    "serinus.dev",
                    "v1alpha1",
                    namespace,
                    "canaries",
                    canary["metadata"]["name"],
                    {"metadata": {"finalizers": None}},
                )
    for delete in (
        apps.delete_collection_namespaced_deployment,
        apps.delete_collection_namespaced_replica_set,
    ):
        with contextlib.suppress(ApiException):
            delete(namespace)
    with contextlib.suppress(ApiException):
        core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
    with contextlib.suppress(ApiException):
        core.delete_namespace(namespace, grace_period_seconds=0)


def namespace_gone(api: kubernetes.client.ApiClient, namespace: str) -> bool:
    """True once the namespace no longer exists (its deletion finished)."""
    try:
        kubernetes.client.CoreV1Api(api).read_namespace(namespace)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False
