"""The built-in Envoy success-rate query, run by real Prometheus on real Envoy stats, sees the error rate.

Pins: with the canary on ``demo/podinfo:1.2.0`` (error rate 0.2 in ``sandbox/images.yaml``) and the
primary on 1.0.0, ``analysis.builtin``'s ``request-success-rate`` for provider ``envoy`` returns 80%
within 2 points for the canary and 100% for the primary. This is the contract between the mesh's
cluster naming (``<namespace>_<service>_<port>``) and the built-in queries.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from analysis.builtin import render_builtin, render_requests
from analysis.template import TemplateContext
from sandbox.config import load_sandbox_config
from sandbox.mesh import EnvoyMesh
from sandbox.prometheus import PrometheusServer
from sandbox.traffic import TrafficGenerator
from sandbox.workloads import WorkloadRunner
from tests.integration.sandbox.conftest import (
    APEX_HOST,
    NAMESPACE,
    all_ready,
    desired,
    endpoints,
    httproute,
    service,
)

pytestmark = pytest.mark.integration

CANARY_IMAGE = "demo/podinfo:1.2.0"


@pytest.fixture
def prometheus(tmp_path: Path, mesh: EnvoyMesh) -> Iterator[PrometheusServer]:
    with PrometheusServer(tmp_path / "prometheus", [mesh.scrape_config()], scrape_interval="1s") as server:
        server.wait_for_targets(1)
        yield server


def query(prometheus: PrometheusServer, promql: str) -> float | None:
    url = f"{prometheus.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    result = body["data"]["result"]
    if not result:
        return None
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def test_builtin_envoy_success_rate_returns_the_configured_error_rate(
    tmp_path: Path, mesh: EnvoyMesh, prometheus: PrometheusServer
) -> None:
    expected_errors = float(load_sandbox_config().resolve(CANARY_IMAGE).settings["error_rate"]) * 100
    context = TemplateContext(
        name="podinfo", namespace=NAMESPACE, target="podinfo", service="podinfo", interval="10s"
    )
    canary_rate = render_builtin("envoy", "request-success-rate", context, role="canary")
    primary_rate = render_builtin("envoy", "request-success-rate", context, role="primary")
    canary_requests = render_requests("envoy", context, role="canary")

    with WorkloadRunner(tmp_path / "workloads", drain_seconds=0.3) as runner:
        table = {}
        for name, image in (("podinfo-primary", "demo/podinfo:1.0.0"), ("podinfo-canary", CANARY_IMAGE)):
            plan = desired(runner, name, image)
            table[service(name)] = endpoints(runner.run_until(plan.key, plan, all_ready(1)))
        mesh.apply([httproute({"podinfo-primary": 50, "podinfo-canary": 50}, name="metrics")], table)
        with TrafficGenerator(mesh.listener_url, rps=100, host=APEX_HOST, concurrency=2):
            # wait (bounded) until the 10s window holds enough canary requests for a stable ratio
            deadline = time.monotonic() + 60
            while (query(prometheus, canary_requests) or 0) < 300:
                assert time.monotonic() < deadline, "Prometheus saw too few canary requests in 60s"
                time.sleep(0.5)
            canary = query(prometheus, canary_rate)
            primary = query(prometheus, primary_rate)
    assert canary is not None and primary is not None
    assert abs(canary - (100 - expected_errors)) <= 2.0, f"canary success rate {canary:.2f}%: {canary_rate}"
    assert primary == pytest.approx(100.0)
