"""The conformance suite is differential: every test runs on the API emulator and on the real
kube-apiserver v1.37.2 (``test_x[emulator]``, ``test_x[kubernetes]``), and pins behaviour both share.

``server`` is the one the test runs against (:class:`Server`). On the emulator each test gets a fresh
emulator (the ``apiserver`` fixture). The real control plane is shared by the session
(``kube_control_plane``), so each test works in a namespace of its own, the namespaces it makes are
deleted after it, and the Widget CRD (cluster-scoped) is deleted and waited for, so the next test can
create it again.

The emulator runs no workload controllers (see sandbox/apiserver/README.md); the real controller
manager does, and its deployment and replicaset controllers would rewrite the Deployments these tests
create (status, ReplicaSets, pods) while a test reads them. A ValidatingAdmissionPolicy keeps those two
controllers out of the test namespaces (label :data:`LABEL`), so what a test sees is the API server's
own doing. The garbage collector and the namespace controller, which the emulator does run, stay on.

Tests needing a switch only the emulator has (fault injection, the watch history limit, the bookmark
interval, its store) are marked with :func:`~tests.integration.apiserver.clients.emulator_only`.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from sandbox.apiserver.kubeconfig import kubeconfig as emulator_kubeconfig
from sandbox.apiserver.testing import RunningApiServer
from sandbox.kubernetes.controlplane import ControlPlane
from sandbox.kubernetes.testing import SERVERS, unique_namespace
from tests.integration.apiserver.clients import GROUP, Kubectl, Server, client, http
from tests.polling import eventually

LABEL = "test.serinus.dev/conformance"
"""Namespaces of this suite on the real server; the workload controllers are held off them."""
HELD_CONTROLLERS = ("deployment-controller", "replicaset-controller")
POLICY = "serinus-conformance-hold-workload-controllers"
WIDGETS_CRD = f"widgets.{GROUP}"


def _policy() -> list[dict[str, Any]]:
    users = [f"system:serviceaccount:kube-system:{name}" for name in HELD_CONTROLLERS]
    selector = {"matchLabels": {LABEL: "true"}}
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": POLICY},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "namespaceSelector": selector,
                    "resourceRules": [
                        {
                            "apiGroups": ["*"],
                            "apiVersions": ["*"],
                            "resources": ["*/*"],
                            "operations": ["CREATE", "UPDATE", "DELETE"],
                        }
                    ],
                },
                "validations": [
                    {
                        "expression": f"!(request.userInfo.username in {json.dumps(users)})",
                        "message": "the conformance suite holds the workload controllers off this namespace",
                        "reason": "Forbidden",
                    }
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": POLICY},
            "spec": {
                "policyName": POLICY,
                "validationActions": ["Deny"],
                "matchResources": {"namespaceSelector": selector},
            },
        },
    ]


def _request(
    plane: ControlPlane,
    path: str,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One request to the real server as admin (``headers`` may impersonate); (status, JSON body)."""
    context = ssl.create_default_context(cafile=str(plane.pki.ca_cert)) if plane.pki else None
    status, _, answer = http(
        plane.url + path,
        method,
        body,
        token=plane.tokens["admin"],
        context=context,
        headers=headers,
        content_type="application/merge-patch+json" if method == "PATCH" else "application/json",
    )
    return status, answer


def _probe_replicaset() -> dict[str, Any]:
    labels = {"app": "probe"}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "probe"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "c"}]},
            },
        },
    }


@pytest.fixture(scope="session")
def held_controllers(kube_control_plane: ControlPlane) -> Iterator[None]:
    """The policy holding the deployment and replicaset controllers off :data:`LABEL` namespaces,
    installed once and proven in force (a dry-run write as the deployment controller is refused)."""
    plane = kube_control_plane
    admission = "/apis/admissionregistration.k8s.io/v1"
    for doc, plural in zip(
        _policy(), ("validatingadmissionpolicies", "validatingadmissionpolicybindings"), strict=True
    ):
        status, answer = _request(plane, f"{admission}/{plural}", "POST", doc)
        assert status in (201, 409), answer
    probe = unique_namespace("conformance-probe")
    _request(plane, "/api/v1/namespaces", "POST", {"metadata": {"name": probe, "labels": {LABEL: "true"}}})
    impersonate = {"Impersonate-User": f"system:serviceaccount:kube-system:{HELD_CONTROLLERS[0]}"}

    def refused() -> bool:
        status, answer = _request(
            plane,
            f"/apis/apps/v1/namespaces/{probe}/replicasets?dryRun=All",
            "POST",
            _probe_replicaset(),
            headers=impersonate,
        )
        assert status in (201, 403), answer
        return status == 403 and POLICY in answer["message"]

    eventually(refused, "the admission policy to be in force", timeout=30, every=0.1)
    _request(plane, f"/api/v1/namespaces/{probe}", "DELETE")
    try:
        yield
    finally:
        for plural in ("validatingadmissionpolicybindings", "validatingadmissionpolicies"):
            _request(plane, f"{admission}/{plural}/{POLICY}", "DELETE")


def _strip_finalizers(plane: ControlPlane, base: str, plural: str, namespace: str | None = None) -> None:
    """Remove the finalizers of every `plural` under `base` (`/api/v1`), in one namespace or all:
    what a failed test may have left behind, holding a namespace or the CRD."""
    where = f"/namespaces/{namespace}" if namespace else ""
    status, listed = _request(plane, f"{base}{where}/{plural}")
    if status != 200:
        return
    for item in listed["items"]:
        meta = item["metadata"]
        if meta.get("finalizers"):
            path = f"{base}/namespaces/{meta['namespace']}/{plural}/{meta['name']}"
            _request(plane, path, "PATCH", {"metadata": {"finalizers": None}})


def _gone(plane: ControlPlane, path: str) -> bool:
    return _request(plane, path)[0] == 404


def _clean_up(plane: ControlPlane, server: Server) -> None:
    """Delete what the test made on the shared server: its namespaces and the Widget CRD."""
    crd = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{WIDGETS_CRD}"
    if not _gone(plane, crd):
        _strip_finalizers(plane, f"/apis/{GROUP}/v1", "widgets")
        _request(plane, crd, "DELETE")
        eventually(lambda: _gone(plane, crd), f"CRD {WIDGETS_CRD} to be deleted", timeout=30)
    for namespace in server.namespaces:
        _strip_finalizers(plane, "/api/v1", "configmaps", namespace)
        _strip_finalizers(plane, "/apis/apps/v1", "deployments", namespace)
        _request(plane, f"/api/v1/namespaces/{namespace}", "DELETE")


def _settle(plane: ControlPlane) -> None:
    """Wait until no namespace is terminating (the namespace controller lists and deletes the content
    of one meanwhile: requests a test counting requests would see)."""

    def quiet() -> bool:
        status, listed = _request(plane, "/api/v1/namespaces")
        assert status == 200, listed
        return not any(ns["metadata"].get("deletionTimestamp") for ns in listed["items"])

    eventually(quiet, "no namespace to be terminating", timeout=60)


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """The API server of this test, with a namespace of the test's own (the kubeconfig's context
    namespace): a fresh emulator, or the session's real kube-apiserver."""
    namespace = unique_namespace("conformance")
    config = tmp_path / "test.kubeconfig"
    if request.param == "emulator":
        emulator: RunningApiServer = request.getfixturevalue("apiserver")
        config.write_text(emulator_kubeconfig(emulator.url, namespace))
        server = Server("emulator", emulator.url, config, namespace, namespaces=[namespace])
        status, _, answer = server.http("/api/v1/namespaces", "POST", {"metadata": {"name": namespace}})
        assert status == 201, answer
        yield server
        return
    plane: ControlPlane = request.getfixturevalue("kube_control_plane")
    request.getfixturevalue("held_controllers")
    admin = yaml.safe_load(plane.kubeconfig.read_text())
    admin["contexts"][0]["context"]["namespace"] = namespace
    config.write_text(yaml.safe_dump(admin, sort_keys=False))
    assert plane.pki is not None
    server = Server(
        "kubernetes",
        plane.url,
        config,
        namespace,
        token=plane.tokens["admin"],
        ca=plane.pki.ca_cert,
        namespaces=[namespace],
        settle=lambda: _settle(plane),
    )
    status, answer = _request(
        plane, "/api/v1/namespaces", "POST", {"metadata": {"name": namespace, "labels": {LABEL: "true"}}}
    )
    assert status == 201, answer
    # the controller manager publishes the cluster's CA into every namespace, a moment after it is made
    eventually(
        lambda: not _gone(plane, f"/api/v1/namespaces/{namespace}/configmaps/kube-root-ca.crt"),
        "kube-root-ca.crt in the test namespace",
        timeout=30,
        every=0.05,
    )
    try:
        yield server
    finally:
        _clean_up(plane, server)


@pytest.fixture
def kubectl(server: Server, tmp_path: Path) -> Kubectl:
    """The real kubectl pointed at the server, in the test's namespace."""
    return Kubectl(server.kubeconfig, tmp_path / "kube-cache")


@pytest.fixture
def api_client(server: Server) -> Iterator[Any]:
    """A kubernetes ApiClient pointed at the server."""
    api: kubernetes.client.ApiClient = client(server.kubeconfig)
    yield api
    api.close()  # type: ignore[no-untyped-call]
