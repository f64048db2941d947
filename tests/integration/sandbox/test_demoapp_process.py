"""The demo app as a real process, and the traffic generator's CLI against it.

Pins: ``/`` answers with the version (header and JSON body) and exactly the configured share of 500s;
``/healthz`` is 503 until ``--ready-after-ms`` has passed; ``/metrics`` counts answers by code in
Prometheus text; SIGTERM ends the process cleanly; ``python -m sandbox.traffic`` reports counts by
status and version as JSON lines.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from sandbox.workloads.runner import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def app() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    argv = [sys.executable, "-m", "sandbox.demoapp", "--port", str(port), "--version", "9.9.9",
            "--error-rate", "0.25", "--ready-after-ms", "300"]  # fmt: skip
    process = subprocess.Popen(argv)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            urllib.request.urlopen(f"{url}/metrics", timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "demo app did not start"
            time.sleep(0.05)
    yield url, process
    if process.poll() is None:
        process.kill()
        process.wait()


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_demo_app_serves_version_readiness_errors_and_metrics(
    app: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = app
    assert get(f"{url}/healthz")[0] == 503  # not ready before --ready-after-ms
    codes = []
    for _ in range(100):
        code, headers, body = get(f"{url}/")
        assert headers["X-App-Version"] == "9.9.9" and json.loads(body)["version"] == "9.9.9"
        codes.append(code)
    assert codes.count(500) == 25 and codes.count(200) == 75
    deadline = time.monotonic() + 5
    while get(f"{url}/healthz")[0] != 200:
        assert time.monotonic() < deadline, "never became ready"
        time.sleep(0.05)
    metrics = get(f"{url}/metrics")[2].decode()
    assert 'http_requests_total{code="200"} 75.0' in metrics
    assert 'http_requests_total{code="500"} 25.0' in metrics
    assert "http_request_duration_seconds_count 100.0" in metrics
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_traffic_cli_reports_counts_by_status_and_version(app: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, _ = app
    out = subprocess.run(
        [sys.executable, "-m", "sandbox.traffic", url, "--rps", "40", "--duration", "1.5"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    last = json.loads(out.strip().splitlines()[-1])
    answered = sum(last["by_status"].values())
    assert answered > 0
    assert last["by_version"] == {"9.9.9": answered}
    assert last["by_status"]["500"] == pytest.approx(answered / 4, abs=1)
    assert last["transport_errors"] == 0
