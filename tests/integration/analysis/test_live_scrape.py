"""Pins the live path: the session Prometheus, reloaded with a scrape target (a tiny local exporter),
scrapes it, and the provider reads and evaluate() assesses the scraped value."""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from analysis.evaluate import CanaryRef, MetricSpec, evaluate
from analysis.providers.prometheus import PrometheusProvider
from analysis.query import Outcome, Tick
from analysis.verdict import Range, Verdict
from sandbox.prometheus import PrometheusServer, free_port

pytestmark = pytest.mark.integration


def test_scraped_value_is_read_and_assessed(
    prometheus: PrometheusServer, provider: PrometheusProvider
) -> None:
    registry = CollectorRegistry()
    Gauge("serinus_live_success_percent", "demo gauge", registry=registry).set(99.7)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        prometheus.reload([{"job_name": "live", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}])
        prometheus.wait_for_targets(1, timeout=30)
        query = 'serinus_live_success_percent{job="live"}'
        result = provider.query(query)
        deadline = time.monotonic() + 10  # the first scrape may land just after the target turns up
        while result.outcome is Outcome.NO_DATA and time.monotonic() < deadline:
            time.sleep(0.25)
            result = provider.query(query)
        assert (result.outcome, result.value) == (Outcome.VALUE, 99.7)
        canary = CanaryRef(name="a", namespace="b", target="a", service="a", mesh="envoy")
        (check,) = evaluate(
            [MetricSpec("live", Range(min=99), query=query)], canary, Tick({"default": provider})
        )
        assert check.verdict is Verdict.PASS
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        prometheus.reload([])
