"""The API emulator as the real `kubernetes` client sees it, for router and kube adapter tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import kubernetes
import pytest
import yaml

from controller.kube.client import build_api_client
from controller.kube.objects import KubeObjects
from sandbox.apiserver.testing import RunningApiServer

CRDS = Path(__file__).parent / "crds"
ROOT = Path(__file__).resolve().parents[3]
NS = "shop"


def apply_crd(api: kubernetes.client.ApiClient, path: Path) -> dict[str, Any]:
    """Register a CRD from a YAML file through the real client."""
    body = yaml.safe_load(path.read_text())
    created = kubernetes.client.CustomObjectsApi(api).create_cluster_custom_object(
        "apiextensions.k8s.io", "v1", "customresourcedefinitions", body)
    return cast(dict[str, Any], created)


@pytest.fixture
def api(apiserver: RunningApiServer) -> Iterator[kubernetes.client.ApiClient]:
    """A real ApiClient (built by Serinus' own client factory) with the mesh CRDs, the Canary CRD
    and the `shop` namespace registered."""
    client = build_api_client(str(apiserver.kubeconfig))
    for path in sorted(CRDS.glob("*.yaml")):
        apply_crd(client, path)
    apply_crd(client, ROOT / "crds" / "canaries.serinus.dev.yaml")
    kubernetes.client.CoreV1Api(client).create_namespace(
        kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=NS)))
    yield client
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
