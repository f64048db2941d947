"""Fault injection of the API emulator: every fault is off by default and takes effect when
switched on through the fixture's Python API (latency, 409/429/500 on a share of requests,
dropped watches). Emulator-only: the real kube-apiserver has no fault switchboard."""

from __future__ import annotations

import json
import threading
from typing import Any

import kubernetes
import pytest
import urllib3
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from sandbox.apiserver.testing import RunningApiServer
from tests.integration.apiserver.clients import Server, emulator_only

NS = "default"
Watch: Any = kubernetes.watch.Watch  # untyped in the client
pytestmark = emulator_only("fault injection (apiserver.faults) is the emulator's own switchboard")


def _cm(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}}


def test_latency_is_off_by_default_and_delays_requests(
    apiserver: RunningApiServer, api_client: kubernetes.client.ApiClient
) -> None:
    """With no latency a request fits a short client timeout; with latency it does not."""
    core: Any = CoreV1Api(api_client)
    assert apiserver.faults.delay == 0
    core.list_namespaced_config_map(NS, _request_timeout=1.0)
    apiserver.faults.latency(1.0)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as slow:  # after urllib3's own retries
        core.list_namespaced_config_map(NS, _request_timeout=0.2)
    assert isinstance(slow.value.reason, urllib3.exceptions.ReadTimeoutError)
    apiserver.faults.clear()
    core.list_namespaced_config_map(NS, _request_timeout=1.0)


def test_errors_are_off_by_default_and_hit_matching_requests(
    apiserver: RunningApiServer, api_client: kubernetes.client.ApiClient
) -> None:
    """Injected errors answer a Status with the chosen code only for the chosen verbs/resources."""
    core: Any = CoreV1Api(api_client)
    for i in range(10):
        core.create_namespaced_config_map(NS, _cm(f"ok{i}"))
    assert apiserver.faults.injected == 0

    apiserver.faults.errors(status=500, share=1.0, verbs=["create"], resources=["configmaps"])
    with pytest.raises(ApiException) as failed:
        core.create_namespaced_config_map(NS, _cm("boom"))
    assert failed.value.status == 500
    assert json.loads(failed.value.body or "{}")["reason"] == "InternalError"
    core.read_namespaced_config_map("ok0", NS)  # other verbs pass
    core.create_namespaced_secret(NS, _cm("s"))  # other resources pass
    apiserver.faults.clear()

    apiserver.faults.errors(status=429, share=1.0, verbs=["get"])
    with pytest.raises(ApiException) as throttled:
        core.read_namespaced_config_map("ok0", NS)
    assert throttled.value.status == 429 and (throttled.value.headers or {})["Retry-After"] == "1"
    apiserver.faults.clear()

    apiserver.faults.errors(status=409, share=0.5, verbs=["update"], seed=7)
    outcomes = []
    for i in range(30):
        current = core.read_namespaced_config_map("ok1", NS)
        current.data = {"i": str(i)}
        try:
            core.replace_namespaced_config_map("ok1", NS, current)
            outcomes.append("ok")
        except ApiException as err:
            assert err.status == 409
            outcomes.append("conflict")
    assert 0 < outcomes.count("conflict") < 30
    apiserver.faults.clear()
    core.create_namespaced_config_map(NS, _cm("after"))


def test_fault_arguments_are_checked(server: Server, apiserver: RunningApiServer) -> None:
    """Bad fault settings fail loudly instead of silently doing nothing."""
    with pytest.raises(ValueError, match="unsupported fault status"):
        apiserver.faults.errors(status=418)
    with pytest.raises(ValueError, match="share"):
        apiserver.faults.errors(share=1.5)
    with pytest.raises(ValueError, match="latency"):
        apiserver.faults.latency(-1)


def test_drop_watches_ends_open_streams(
    apiserver: RunningApiServer, api_client: kubernetes.client.ApiClient
) -> None:
    """Watches stay open by default; drop_watches() closes every open stream at once."""
    core: Any = CoreV1Api(api_client)
    assert apiserver.faults.drop_watches() == 0
    events: list[str] = []
    opened = threading.Event()

    def consume() -> None:
        stream = Watch().stream(core.list_namespaced_config_map, NS, timeout_seconds=60)
        for event in stream:
            events.append(event["object"].metadata.name)
            opened.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    core.create_namespaced_config_map(NS, _cm("seen"))
    assert opened.wait(10), "the watch did not deliver the first event"
    core.create_namespaced_config_map(NS, _cm("also-seen"))
    thread.join(0.5)
    assert thread.is_alive()  # not dropped without the fault
    assert apiserver.faults.drop_watches() == 1
    thread.join(10)
    assert not thread.is_alive()
    assert "seen" in events
