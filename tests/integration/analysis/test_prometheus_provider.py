"""Pins the Prometheus provider and the built-in queries against the real Prometheus server: values,
no data, NaN, several series, PromQL errors (not retried), unreachable and silent servers (bounded retries,
then ERROR), adversarial label values matched exactly, the Envoy built-ins computing the right numbers, and
a MetricTemplate's ``spec.provider.timeout``/``insecureSkipVerify`` governing the provider the operator
builds."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from analysis.assess import Comparison
from analysis.builtin import BUILTIN_METRICS, MESH_METRICS, render_builtin, render_requests
from analysis.evaluate import CanaryRef, MetricSpec, evaluate
from analysis.providers import Allowlist, ProviderConfig, make_provider
from analysis.providers.prometheus import PrometheusProvider
from analysis.query import Outcome, Tick
from analysis.template import TemplateContext, render
from analysis.verdict import Range, Verdict
from controller.operator.template_provider import template_provider_config
from sandbox.prometheus import PrometheusServer, free_port
from tests.integration.analysis.conftest import (
    ADVERSARIAL_LABELS,
    EXPECTED_CANARY_P99_MS,
    EXPECTED_CANARY_SUCCESS,
)

pytestmark = pytest.mark.integration

CTX = TemplateContext(name="podinfo", namespace="shop", target="podinfo", service="podinfo", interval="2m")
CANARY = CanaryRef(name="podinfo", namespace="shop", target="podinfo", service="podinfo", mesh="gatewayapi")


def test_pass_value(provider: PrometheusProvider) -> None:
    result = provider.query('serinus_test_value{case="pass"}')
    assert (result.outcome, result.value) == (Outcome.VALUE, 99.5)


def test_pass_and_fail_verdicts_through_evaluate(provider: PrometheusProvider) -> None:
    template = 'serinus_test_value{case="{{ variables.case }}"}'
    metrics = [
        MetricSpec("good", Range(min=99), query=template, variables={"case": "pass"}),
        MetricSpec("bad", Range(min=99), query=template, variables={"case": "fail"}),
        MetricSpec("nan", Range(min=99), query=template, variables={"case": "nan"}),
        MetricSpec("absent", Range(min=99), query=template, variables={"case": "absent"}),
        MetricSpec("multi", Range(min=0), query="serinus_test_multi"),
        MetricSpec("broken", Range(min=0), query="sum(serinus_test_value"),
    ]
    results = evaluate(metrics, CANARY, Tick({"default": provider}))
    assert [(r.metric, r.verdict) for r in results] == [
        ("good", Verdict.PASS),
        ("bad", Verdict.FAIL),
        ("nan", Verdict.INCONCLUSIVE),
        ("absent", Verdict.INCONCLUSIVE),
        ("multi", Verdict.ERROR),
        ("broken", Verdict.ERROR),
    ]
    assert results[1].value == 90.0
    assert results[4].message.startswith("query returned 3 series; expected 1")


def test_no_data(provider: PrometheusProvider) -> None:
    result = provider.query('serinus_test_value{case="absent"}')
    assert (result.outcome, result.message) == (Outcome.NO_DATA, "query returned no series")


def test_nan_is_no_data(provider: PrometheusProvider) -> None:
    result = provider.query('serinus_test_value{case="nan"}')
    assert (result.outcome, result.message) == (Outcome.NO_DATA, "value is NaN")


def test_scalar_result(provider: PrometheusProvider) -> None:
    result = provider.query("scalar(sum(serinus_test_multi)) * 2")
    assert (result.outcome, result.value) == (Outcome.VALUE, 6.0)


def test_several_series_are_an_error(provider: PrometheusProvider) -> None:
    result = provider.query("serinus_test_multi")
    assert result.outcome is Outcome.ERROR
    assert result.message.startswith("query returned 3 series; expected 1")


def test_syntax_error_is_an_error_and_not_retried(provider: PrometheusProvider) -> None:
    result = provider.query("sum(rate(serinus_test_value[1m])")
    assert result.outcome is Outcome.ERROR
    assert "answered HTTP 400" in result.message and "bad_data" in result.message
    assert provider.last_attempts == 1


def test_unreachable_server_is_an_error_after_bounded_retries() -> None:
    address = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    prom = PrometheusProvider(address, allowlist=Allowlist.any(), attempts=3, backoff=0.05)
    result = prom.query("up")
    assert result.outcome is Outcome.ERROR
    assert result.message.startswith(f"cannot reach Prometheus at {address} (3 attempts)")
    assert prom.last_attempts == 3


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    listener.close()


def test_silent_server_times_out_into_an_error(silent_server: str) -> None:
    prom = PrometheusProvider(silent_server, allowlist=Allowlist.any(), timeout=0.3, attempts=2, backoff=0.05)
    result = prom.query("up")
    assert result.outcome is Outcome.ERROR
    assert result.message == f"Prometheus at {silent_server} did not answer within 0.3s (2 attempts)"
    assert prom.last_attempts == 2


@pytest.mark.parametrize("index", range(len(ADVERSARIAL_LABELS)))
def test_adversarial_values_match_exactly_their_label(provider: PrometheusProvider, index: int) -> None:
    query = render(
        'serinus_test_label{v="{{ variables.v }}"}',
        TemplateContext(variables={"v": ADVERSARIAL_LABELS[index]}),
    )
    result = provider.query(query)
    assert (result.outcome, result.value) == (Outcome.VALUE, float(index))


@pytest.mark.parametrize("mesh", sorted(MESH_METRICS))
@pytest.mark.parametrize("metric", BUILTIN_METRICS)
@pytest.mark.parametrize("role", ["canary", "primary"])
def test_every_builtin_is_valid_promql(
    provider: PrometheusProvider, mesh: str, metric: str, role: str
) -> None:
    result = provider.query(render_builtin(mesh, metric, CTX, role))  # type: ignore[arg-type]
    assert result.outcome is not Outcome.ERROR, result.message
    count = provider.query(render_requests(mesh, CTX, role))  # type: ignore[arg-type]
    assert count.outcome is not Outcome.ERROR, count.message


def test_envoy_success_rate_builtin_gives_the_expected_percentage(provider: PrometheusProvider) -> None:
    result = provider.query(render_builtin("envoy", "request-success-rate", CTX))
    assert result.outcome is Outcome.VALUE and result.value is not None
    assert result.value == pytest.approx(EXPECTED_CANARY_SUCCESS, abs=1e-6)


def test_envoy_primary_without_failures_scores_100(provider: PrometheusProvider) -> None:
    result = provider.query(render_builtin("envoy", "request-success-rate", CTX, "primary"))
    assert result.value == pytest.approx(100.0)


def test_envoy_duration_builtin_gives_the_expected_p99(provider: PrometheusProvider) -> None:
    result = provider.query(render_builtin("envoy", "request-duration", CTX))
    assert result.value == pytest.approx(EXPECTED_CANARY_P99_MS, abs=1e-6)


def test_envoy_builtins_through_evaluate_with_min_requests_and_compare(prometheus: PrometheusServer) -> None:
    provider = make_provider(ProviderConfig(address=prometheus.url), Allowlist([prometheus.url]))
    canary = CanaryRef(**{**vars(CANARY), "min_requests": 100})
    metrics = [
        MetricSpec("request-success-rate", Range(min=94), interval="2m"),
        MetricSpec("request-success-rate", Range(min=99), interval="2m"),
        MetricSpec("request-duration", Range(max=100), interval="2m"),
        MetricSpec("request-success-rate", interval="2m", compare=Comparison(tolerance=1)),
    ]
    tick = Tick({"default": provider})
    results = evaluate(metrics, canary, tick)
    assert [r.verdict for r in results] == [Verdict.PASS, Verdict.FAIL, Verdict.PASS, Verdict.FAIL]
    assert "primary 100" in results[3].message
    assert tick.sent == 4  # success rate once, duration, request count once, primary baseline

    too_few = CanaryRef(**{**vars(CANARY), "min_requests": 10**9})
    (held,) = evaluate(metrics[:1], too_few, Tick({"default": provider}))
    assert held.verdict is Verdict.INCONCLUSIVE and "minRequests is 1000000000" in held.message


def _template_provider(provider: dict[str, object]) -> PrometheusProvider:
    """The provider the operator builds for a MetricTemplate with this ``spec.provider``."""
    config = template_provider_config(provider, None, default_address="", default_timeout=5.0)
    built = make_provider(config, Allowlist.any())
    assert isinstance(built, PrometheusProvider)
    return built


def test_template_timeout_is_the_query_timeout(silent_server: str) -> None:
    """A MetricTemplate's ``spec.provider.timeout: 300ms`` bounds each query (not the 5 s default)."""
    prom = _template_provider({"type": "prometheus", "address": silent_server, "timeout": "300ms"})
    result = prom.query("up")
    assert result.outcome is Outcome.ERROR
    assert result.message == f"Prometheus at {silent_server} did not answer within 0.3s (3 attempts)"


@pytest.fixture(scope="module")
def tls_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTPS server with a self-signed certificate answering every instant query with 42."""
    base = tmp_path_factory.mktemp("tls")
    cert, key = base / "cert.pem", base / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    answer = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1.0, "42"]}]}}).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_POST = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_template_insecure_skip_verify_accepts_a_self_signed_certificate(tls_prometheus: str) -> None:
    """TLS is verified unless the template says ``insecureSkipVerify: true``."""
    verified = _template_provider({"type": "prometheus", "address": tls_prometheus})
    refused = verified.query("up")
    assert refused.outcome is Outcome.ERROR and "CERTIFICATE_VERIFY_FAILED" in refused.message
    insecure = _template_provider({"type": "prometheus", "address": tls_prometheus,
                                   "insecureSkipVerify": True})
    assert insecure.query("up").value == 42.0
