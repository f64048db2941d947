"""The chart's RBAC, enforced by the real API server (``--authorization-mode=Node,RBAC``).

A sandbox on the real control plane; ``serinus run`` is started as the chart starts it (the rendered
container's command line and environment) and authenticates as the chart's ServiceAccount with a
TokenRequest token (:mod:`sandbox.chart`), so the chart's Roles are all it has. Pinned:

- a namespaced install bootstraps the Canary of the namespace it watches and never touches the one
  of a namespace it does not; its own credentials get 403 there (Deployments, Canaries) and 403 when
  listing Secrets even where it acts (it may only get named ones); the API server's audit log shows it
  never listed or watched a Secret anywhere, and its log holds no refused request;
- ``clusterWide: true`` acts in two namespaces with one ClusterRole.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from sandbox.cluster.rest import RawApi
from sandbox.demo import RELEASE_NAMESPACE
from sandbox.session import Sandbox
from tests.e2e.operator_support import App, OperatorProcess
from tests.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.real_control_plane]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    running = Sandbox.up(tmp_path_factory.mktemp("rbac"), rps=0, control_plane="kubernetes")
    try:
        yield running
    finally:
        running.down()


def audit_events(sandbox: Sandbox, user: str) -> list[dict[str, Any]]:
    """The audit events of one user so far (the API server writes them as it answers)."""
    path = sandbox.workdir / "kubernetes" / "audit.log"
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [e for e in events if e["user"]["username"] == user]


def status_of(api: kubernetes.client.ApiClient, path: str) -> int:
    """The HTTP status of a GET as the given client."""
    try:
        RawApi(api).request("GET", path)
    except ApiException as exc:
        return int(exc.status)
    return 200


def initialized(app: App, op: OperatorProcess) -> bool:
    op.check_alive()
    return app.status().get("phase") == "Initialized"


def forbidden_lines(op: OperatorProcess) -> list[str]:
    return [line for line in op.log_path.read_text().splitlines() if "forbidden" in line.lower()]


def test_a_namespaced_install_acts_where_it_watches_only_and_never_lists_secrets(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    watched, other = App(sandbox, "rbac-watched"), App(sandbox, "rbac-other")
    watched.deploy("1.0.0")
    other.deploy("1.0.0")
    op = OperatorProcess(sandbox, [watched.namespace], name="rbac-namespaced")
    op.start()
    try:
        eventually(lambda: initialized(watched, op), f"{watched.ref} Initialized", timeout=90)
        account = f"system:serviceaccount:{RELEASE_NAMESPACE}:serinus"
        ns = other.namespace
        assert other.status() == {}, "the operator wrote to a namespace it does not watch"
        assert sandbox.get("apps/v1", "Deployment", f"{other.name}-primary", ns) is None
        events = audit_events(sandbox, account)
        assert any(e["verb"] == "watch" and (e.get("objectRef") or {}).get("resource") == "canaries"
                   for e in events), "the audit log shows no watch of Canaries by the operator"  # fmt: skip
        secret_reads = [
            e["requestURI"]
            for e in events
            if (e.get("objectRef") or {}).get("resource") == "secrets" and e["verb"] in ("list", "watch")
        ]
        assert secret_reads == []
        refused = [(e["verb"], e["requestURI"]) for e in events if e["responseStatus"]["code"] == 403]
        assert refused == []

        as_operator = kubernetes.config.new_client_from_config(config_file=str(op.kubeconfig))  # type: ignore[no-untyped-call]
        assert status_of(as_operator, f"/apis/apps/v1/namespaces/{ns}/deployments/{other.name}") == 403
        assert status_of(as_operator, f"/apis/serinus.dev/v1alpha1/namespaces/{ns}/canaries") == 403
        assert status_of(as_operator, f"/api/v1/namespaces/{watched.namespace}/secrets") == 403
        assert status_of(as_operator, f"/apis/apps/v1/namespaces/{watched.namespace}/deployments") == 200
        as_operator.close()
        assert forbidden_lines(op) == []
    finally:
        op.stop()


def test_a_cluster_wide_install_acts_in_every_namespace(sandbox: Sandbox) -> None:
    apps = [App(sandbox, "rbac-wide-a"), App(sandbox, "rbac-wide-b")]
    for app in apps:
        app.deploy("1.0.0")
    values = {"clusterWide": True, "watchNamespaces": []}
    op = OperatorProcess(sandbox, [], name="rbac-cluster-wide", chart_values=values)
    op.start()
    try:
        for app in apps:
            eventually(functools.partial(initialized, app, op), f"{app.ref} Initialized", timeout=90)
            assert app.running_image("-primary") == "demo/podinfo:1.0.0"
        assert forbidden_lines(op) == []
    finally:
        op.stop()
