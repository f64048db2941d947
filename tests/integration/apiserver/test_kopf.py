"""kopf runs unchanged against the API emulator, as against the real kube-apiserver: discovery of a
CRD, watches with bookmarks, merge patches of status, its finalizer guarding deletion, timers, events,
login, shutdown. The same operator runs as a `kopf run` subprocess and in-process with
`kopf.testing.KopfRunner`, on both servers (the `server` fixture), in the test's namespace."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kopf.testing import KopfRunner
from kubernetes.client import ApiextensionsV1Api, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from tests.integration.apiserver.clients import GROUP, WIDGET_CRD, Server, widget
from tests.integration.apiserver.kopf_operator import FINALIZER
from tests.polling import eventually

OPERATOR = Path(__file__).with_name("kopf_operator.py")


def _exercise(api: kubernetes.client.ApiClient, ns: str) -> None:
    """Drive one widget through create, update, timer ticks and delete in namespace `ns`; check
    kopf's effects."""
    objs: Any = CustomObjectsApi(api)
    core: Any = CoreV1Api(api)

    def get() -> dict[str, Any]:
        obj: dict[str, Any] = objs.get_namespaced_custom_object(GROUP, "v1", ns, "widgets", "w")
        return obj

    objs.create_namespaced_custom_object(GROUP, "v1", ns, "widgets", widget("w", size=2))
    eventually(lambda: get().get("status", {}).get("phase") == "Created", "the create handler", timeout=20)
    created = get()
    assert FINALIZER in created["metadata"]["finalizers"]
    assert created["status"]["created"] == {"size": 2}

    objs.patch_namespaced_custom_object(GROUP, "v1", ns, "widgets", "w", {"spec": {"size": 7}})
    eventually(lambda: get().get("status", {}).get("weight") == 7, "the update handler", timeout=20)
    assert get()["status"]["phase"] == "Updated"
    eventually(lambda: get().get("status", {}).get("ticks", 0) >= 2, "two timer ticks", timeout=20)

    objs.delete_namespaced_custom_object(GROUP, "v1", ns, "widgets", "w")

    def gone() -> bool:
        try:
            get()
        except ApiException as err:
            return bool(err.status == 404)
        return False

    eventually(gone, "kopf to release its finalizer", timeout=20)
    assert core.read_namespaced_config_map("deleted-w", ns).data == {"widget": "w"}
    events = eventually(
        lambda: [e for e in core.list_namespaced_event(ns).items if e.reason == "WidgetCreated"],
        "kopf's Event",
        timeout=20,
    )
    assert events[0].involved_object.name == "w" and events[0].message == "size 2"


@pytest.fixture
def operator_env(
    server: Server, api_client: kubernetes.client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> kubernetes.client.ApiClient:
    """The CRD installed (and established) and the operator's kubeconfig variable set."""
    extensions: Any = ApiextensionsV1Api(api_client)
    extensions.create_custom_resource_definition(WIDGET_CRD)

    def established() -> bool:
        crd = extensions.read_custom_resource_definition(f"widgets.{GROUP}")
        return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])

    eventually(established, "the CRD to be Established", timeout=20, every=0.05)
    monkeypatch.setenv("SERINUS_TEST_KUBECONFIG", str(server.kubeconfig))
    return api_client


def test_kopf_run_subprocess(server: Server, operator_env: kubernetes.client.ApiClient) -> None:
    """`kopf run --standalone -A` as a separate process handles create/update/delete and timers,
    and exits cleanly on SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kopf", "run", "--standalone", "-A", str(OPERATOR)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
    )
    try:
        _exercise(operator_env, server.namespace)
    except AssertionError:
        proc.send_signal(signal.SIGTERM)
        print(proc.communicate(timeout=30)[0])
        raise
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "Handler 'created' succeeded" in output


def test_kopf_runner_in_process(server: Server, operator_env: kubernetes.client.ApiClient) -> None:
    """kopf.testing.KopfRunner runs the same operator in a thread against the server."""
    with KopfRunner(["run", "--standalone", "-A", str(OPERATOR)], timeout=30) as runner:
        _exercise(operator_env, server.namespace)
    assert runner.exit_code == 0, runner.output
    assert runner.exception is None
    assert "Handler 'resized/spec.size' succeeded" in runner.output
