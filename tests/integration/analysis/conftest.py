"""One real Prometheus server for the whole session, with deterministic history backfilled by promtool.

Backfilled series (5 s resolution over the last 20 minutes, ending a moment before start-up):

- ``serinus_test_value{case=...}``: ``pass`` 99.5, ``fail`` 90, ``nan`` NaN;
- ``serinus_test_multi{replica="a"|"b"|"c"}``: three series of one metric;
- ``serinus_test_label{v=<adversarial text>}``: value = index into :data:`ADVERSARIAL_LABELS`;
- Envoy cluster stats shaped like a real Envoy's ``/stats/prometheus``: canary cluster
  ``shop_podinfo-canary_9898`` serving 9.5 good (class 2) and 0.5 failed (class 5) requests per second
  with a latency histogram whose p99 is 95 ms; primary cluster ``shop_podinfo-primary_9898`` serving
  20 good requests per second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from analysis.providers import Allowlist
from analysis.providers.prometheus import PrometheusProvider
from sandbox.prometheus import PrometheusServer

HISTORY_SECONDS = 1200
STEP_SECONDS = 5

ADVERSARIAL_LABELS = [
    '"} or vector(1) #',
    ") or vector(1)",
    "back\\slash",
    "new\nline",
    "quote \" and ' both",
    "ü€😀 unicode",
    "{{ target }}",
    "tab\there",
]

CANARY_CLUSTER = "shop_podinfo-canary_9898"
PRIMARY_CLUSTER = "shop_podinfo-primary_9898"
EXPECTED_CANARY_SUCCESS = 100 - 0.5 / 10 * 100  # 95.0
EXPECTED_CANARY_P99_MS = 95.0


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _series(name: str, labels: dict[str, str], value_at: object, times: list[float]) -> list[str]:
    rendered = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
    lines = []
    for t in times:
        value = value_at(t - times[0]) if callable(value_at) else value_at
        lines.append(f"{name}{{{rendered}}} {value} {t:.3f}")
    return lines


def history(now: float) -> str:
    """The OpenMetrics text described in the module docstring."""
    start = now - HISTORY_SECONDS
    times = [start + i * STEP_SECONDS for i in range(HISTORY_SECONDS // STEP_SECONDS)]
    lines: list[str] = []
    for case, value in (("pass", "99.5"), ("fail", "90"), ("nan", "NaN")):
        lines += _series("serinus_test_value", {"case": case}, value, times)
    for replica in "abc":
        lines += _series("serinus_test_multi", {"replica": replica}, "1", times)
    for index, text in enumerate(ADVERSARIAL_LABELS):
        lines += _series("serinus_test_label", {"v": text}, str(index), times)
    rq = "envoy_cluster_upstream_rq_xx"
    lines += _series(rq, {"envoy_cluster_name": CANARY_CLUSTER, "envoy_response_code_class": "2"},
                     lambda s: f"{9.5 * s:g}", times)  # fmt: skip
    lines += _series(rq, {"envoy_cluster_name": CANARY_CLUSTER, "envoy_response_code_class": "5"},
                     lambda s: f"{0.5 * s:g}", times)  # fmt: skip
    lines += _series(rq, {"envoy_cluster_name": PRIMARY_CLUSTER, "envoy_response_code_class": "2"},
                     lambda s: f"{20 * s:g}", times)  # fmt: skip
    for le, per_second in (("10", 0.0), ("50", 9.0), ("100", 10.0), ("+Inf", 10.0)):
        lines += _series(
            "envoy_cluster_upstream_rq_time_bucket",
            {"envoy_cluster_name": CANARY_CLUSTER, "le": le},
            lambda s, r=per_second: f"{r * s:g}",
            times,
        )
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """The session's real Prometheus server, history backfilled, no scrape targets yet."""
    server = PrometheusServer(Path(tmp_path_factory.mktemp("prometheus")))
    server.backfill(history(time.time() - 2))
    with server:
        yield server


@pytest.fixture
def provider(prometheus: PrometheusServer) -> Iterator[PrometheusProvider]:
    """A provider for the session server, allowlisted by exact address."""
    prom = PrometheusProvider(prometheus.url, allowlist=Allowlist([prometheus.url]))
    yield prom
    prom.close()
