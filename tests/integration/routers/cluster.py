"""The API server as the real `kubernetes` client sees it, for router and kube adapter tests: each test
runs twice, on the API emulator (a fresh one per test) and on the real control plane (shared by the
session; the test's `shop` namespace is deleted afterwards and the next test waits until it is gone)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import kubernetes
import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from controller.kube.client import build_api_client
from controller.kube.objects import KubeObjects
from sandbox.kubernetes.testing import SERVERS, namespace_gone, release_namespace
from tests.polling import eventually

CRDS = Path(__file__).parent / "crds"
ROOT = Path(__file__).resolve().parents[3]
NS = "shop"
BUILT_IN = {"ingresses.networking.k8s.io.yaml"}
"""Stand-ins for kinds the emulator does not serve; the real server serves them itself."""


def apply_crd(api: kubernetes.client.ApiClient, path: Path) -> dict[str, Any]:
    """Register a CRD from a YAML file through the real client (kept when the shared real server has
    it already) and wait until it is Established (the real server serves it a moment later)."""
    body = yaml.safe_load(path.read_text())
    crds: Any = kubernetes.client.CustomObjectsApi(api)
    where = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    try:
        created = crds.create_cluster_custom_object(*where, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        created = crds.get_cluster_custom_object(*where, body["metadata"]["name"])

    def established() -> bool:
        got = crds.get_cluster_custom_object(*where, body["metadata"]["name"])
        conditions = (got.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    eventually(established, f"CRD {body['metadata']['name']} to be established", timeout=20)
    return cast(dict[str, Any], created)


@pytest.fixture(params=SERVERS)
def api(request: pytest.FixtureRequest) -> Iterator[kubernetes.client.ApiClient]:
    """A real ApiClient (built by Serinus' own client factory) with the mesh CRDs, the Canary CRD
    and the `shop` namespace registered, on the emulator and on the real control plane."""
    real = request.param == "kubernetes"
    server = request.getfixturevalue("kube_control_plane" if real else "apiserver")
    client = build_api_client(str(server.kubeconfig))
    core: Any = kubernetes.client.CoreV1Api(client)
    if real:  # the previous test's namespace may still be terminating
        eventually(lambda: namespace_gone(client, NS), f"namespace {NS} to be gone", timeout=60)
    for path in sorted(CRDS.glob("*.yaml")):
        if not (real and path.name in BUILT_IN):
            apply_crd(client, path)
    apply_crd(client, ROOT / "crds" / "canaries.serinus.dev.yaml")
    core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=NS)))
    try:
        yield client
    finally:
        if real:
            release_namespace(client, NS)
        client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def objects(api: kubernetes.client.ApiClient) -> KubeObjects:
    """The `Objects` port over the real client."""
    return KubeObjects(api)


def create_canary(api: kubernetes.client.ApiClient, example: str = "canary-bluegreen.yaml") -> dict[str, Any]:
    """Create one of the repository's example Canaries in the `shop` namespace; returns it as stored."""
    body = yaml.safe_load((ROOT / "examples" / example).read_text())
    body["metadata"]["namespace"] = NS
    created = kubernetes.client.CustomObjectsApi(api).create_namespaced_custom_object(
        "serinus.dev", "v1alpha1", NS, "canaries", body)
    return cast(dict[str, Any], created)
