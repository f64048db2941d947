"""Pins the provider layer: the scripted provider, per-tick de-duplication, the address allowlist, the
provider registry, and the Prometheus provider's answer handling, timeout, auth and retry policy.

The Prometheus provider is driven through prometheus-api-client unchanged; only the HTTP transport
(``requests.Session.send``) is replaced by a script that returns answers or raises faults.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pytest
import requests

from analysis.providers import (
    PROVIDER_TYPES,
    AddressNotAllowed,
    Allowlist,
    ProviderConfig,
    UnknownProviderType,
    make_provider,
)
from analysis.providers.prometheus import PrometheusProvider, interpret
from analysis.providers.scripted import ScriptedProvider
from analysis.query import Outcome, QueryResult, Tick

# -- scripted provider and tick ----------------------------------------------------------------------


def test_scripted_provider_plays_sequences_and_repeats_the_last() -> None:
    provider = ScriptedProvider({"up": [1.0, None, QueryResult.error("boom"), math.nan, 2.0]})
    outcomes = [provider.query("up") for _ in range(6)]
    assert [r.outcome for r in outcomes] == [
        Outcome.VALUE, Outcome.NO_DATA, Outcome.ERROR, Outcome.NO_DATA, Outcome.VALUE, Outcome.VALUE,
    ]  # fmt: skip
    assert outcomes[0].value == 1.0 and outcomes[-1].value == 2.0
    assert outcomes[3].message == "value is NaN"
    assert provider.queries == ["up"] * 6


def test_scripted_provider_matches_exact_query_before_fragments() -> None:
    provider = ScriptedProvider({"istio_requests_total": [5.0], 'sum(x{a="b"})': [7.0]})
    assert provider.query('sum(rate(istio_requests_total{a="b"}[1m]))').value == 5.0
    assert provider.query('sum(x{a="b"})').value == 7.0
    unknown = provider.query("nothing")
    assert unknown.outcome is Outcome.ERROR and "no answer for query 'nothing'" in unknown.message


def test_scripted_provider_refuses_empty_scripts() -> None:
    with pytest.raises(ValueError, match="empty"):
        ScriptedProvider({"up": []})


def test_tick_sends_identical_queries_once_per_provider() -> None:
    a, b = ScriptedProvider({"q": [1.0, 2.0]}), ScriptedProvider({"q": [10.0]})
    tick = Tick({"a": a, "b": b})
    assert [tick.query("a", "q").value for _ in range(3)] == [1.0, 1.0, 1.0]
    assert tick.query("b", "q").value == 10.0
    assert (a.queries, b.queries, tick.sent) == (["q"], ["q"], 2)
    assert Tick({"a": a}).query("a", "q").value == 2.0  # a new tick asks again


def test_tick_reports_unknown_provider_as_error() -> None:
    result = Tick({"default": ScriptedProvider({"q": [1.0]})}).query("other", "q")
    assert result.outcome is Outcome.ERROR
    assert "no metric provider 'other' is configured (configured: default)" in result.message


# -- allowlist and registry --------------------------------------------------------------------------

ALLOWLIST = Allowlist(
    ["http://prometheus.monitoring:9090", "thanos.obs", "mimir:8080", "https://vm.example/select/"]
)


@pytest.mark.parametrize(
    "address",
    [
        "http://prometheus.monitoring:9090",
        "http://prometheus.monitoring:9090/",
        "http://prometheus.monitoring:9090/prom",
        "http://thanos.obs:10902",
        "https://THANOS.obs",
        "http://mimir:8080/prometheus",
        "https://vm.example/select/0/prometheus",
    ],
)
def test_allowlist_accepts(address: str) -> None:
    assert ALLOWLIST.allows(address)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("http://prometheus.monitoring:90901", "invalid port"),
        ("http://prometheus.monitoring:9090.evil.com", "invalid port"),
        ("http://prometheus.monitoring:9091", "not in the allowlist"),
        ("http://prometheus.monitoring:9090@evil.com", "credentials"),
        ("http://user:pw@thanos.obs", "credentials"),
        ("http://evil.com/?x=thanos.obs", "query"),
        ("http://thanos.obs.evil.com", "not in the allowlist"),
        ("http://mimir:9090", "not in the allowlist"),
        ("https://vm.example/selectx", "not in the allowlist"),
        ("file:///etc/passwd", "http:// or https://"),
        ("prometheus.monitoring:9090", "http:// or https://"),
        ("", "http:// or https://"),
    ],
)
def test_allowlist_refuses_with_reason(address: str, why: str) -> None:
    with pytest.raises(AddressNotAllowed, match=why):
        ALLOWLIST.check(address)


def test_empty_allowlist_refuses_everything_and_star_allows_all() -> None:
    with pytest.raises(AddressNotAllowed, match="allowlist is empty"):
        Allowlist([]).check("http://127.0.0.1:9090")
    assert Allowlist.any().check("http://127.0.0.1:9090/") == "http://127.0.0.1:9090"


def test_registry_fails_loudly_on_unknown_types() -> None:
    with pytest.raises(
        UnknownProviderType, match="unknown metric provider type 'datadog'; known: prometheus"
    ):
        make_provider(ProviderConfig(type="datadog", address="http://x"), Allowlist.any())
    assert set(PROVIDER_TYPES) == {"prometheus"}


def test_registry_refuses_address_outside_allowlist_before_any_request() -> None:
    with pytest.raises(AddressNotAllowed):
        make_provider(ProviderConfig(address="http://evil:9090"), ALLOWLIST)


def test_provider_config_never_shows_credentials() -> None:
    config = ProviderConfig(address="http://x", bearer_token="s3cret", username="u", password="hunter2")
    assert "s3cret" not in repr(config) and "hunter2" not in repr(config)


# -- Prometheus provider through a scripted transport --------------------------------------------------


class ScriptedTransport(requests.Session):
    """A requests session whose transport answers from a script (dicts become JSON 200s)."""

    def __init__(self, *answers: Any) -> None:
        super().__init__()
        self.answers = list(answers)
        self.sent: list[tuple[requests.PreparedRequest, Mapping[str, Any]]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append((request, kwargs))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        status, body = answer if isinstance(answer, tuple) else (200, answer)
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.request = request
        return response


def vector(*values: str, labels: bool = True) -> dict[str, Any]:
    result = [{"metric": {"i": str(i)} if labels else {}, "value": [1.0, v]} for i, v in enumerate(values)]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def provider(transport: ScriptedTransport, **kwargs: Any) -> PrometheusProvider:
    return PrometheusProvider(
        "http://prom:9090", allowlist=Allowlist.any(), session=transport, backoff=0, **kwargs
    )


@pytest.mark.parametrize(
    ("body", "outcome", "value"),
    [
        (vector("99.5"), Outcome.VALUE, 99.5),
        (vector("0", labels=False), Outcome.VALUE, 0.0),
        (vector("+Inf"), Outcome.VALUE, math.inf),
        (vector("NaN"), Outcome.NO_DATA, None),
        (vector(), Outcome.NO_DATA, None),
        ({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "42"]}}, Outcome.VALUE, 42.0),
        (
            {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "NaN"]}},
            Outcome.NO_DATA,
            None,
        ),
        (
            {"status": "success", "data": {"resultType": "string", "result": [1.0, "hello"]}},
            Outcome.ERROR,
            None,
        ),
    ],
)
def test_answers(body: dict[str, Any], outcome: Outcome, value: float | None) -> None:
    result = provider(ScriptedTransport(body)).query("q")
    assert result.outcome is outcome
    assert result.value == value


def test_several_series_are_an_error_not_the_last_one() -> None:
    result = provider(ScriptedTransport(vector("1", "2", "3"))).query("q")
    assert result.outcome is Outcome.ERROR
    assert result.message.startswith("query returned 3 series; expected 1")
    assert "{i='0'}" in result.message


def test_range_vector_is_an_error() -> None:
    body = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "1"]]}]},
    }
    result = provider(ScriptedTransport(body)).query("x[5m]")
    assert result.outcome is Outcome.ERROR and "range vector" in result.message


@pytest.mark.parametrize("data", [None, "x", [1], [{"metric": {}}], [{"metric": {}, "value": [1.0, "abc"]}]])
def test_malformed_results_are_errors(data: Any) -> None:
    assert interpret(data).outcome is Outcome.ERROR


def test_every_request_carries_the_timeout_client_side_and_server_side() -> None:
    transport = ScriptedTransport(vector("1"))
    provider(transport, timeout=2.5).query('up{job="a b"}')
    request, kwargs = transport.sent[0]
    assert kwargs["timeout"] == 2.5
    assert request.url == "http://prom:9090/api/v1/query?query=up%7Bjob%3D%22a+b%22%7D&timeout=2.5"


def test_default_timeout_is_five_seconds() -> None:
    transport = ScriptedTransport(vector("1"))
    provider(transport).query("up")
    assert transport.sent[0][1]["timeout"] == 5.0


def test_bearer_token_header() -> None:
    transport = ScriptedTransport(vector("1"))
    provider(transport, bearer_token="tok").query("up")
    assert transport.sent[0][0].headers["Authorization"] == "Bearer tok"


def test_basic_auth_header() -> None:
    transport = ScriptedTransport(vector("1"))
    provider(transport, basic_auth=("user", "pw")).query("up")
    assert transport.sent[0][0].headers["Authorization"].startswith("Basic ")


def test_bearer_and_basic_together_are_refused() -> None:
    with pytest.raises(ValueError, match="either"):
        provider(ScriptedTransport(vector("1")), bearer_token="t", basic_auth=("u", "p"))


def test_transport_errors_are_retried_then_succeed() -> None:
    transport = ScriptedTransport(
        requests.ConnectionError("refused"), requests.ReadTimeout("slow"), vector("7")
    )
    prom = provider(transport)
    result = prom.query("up")
    assert (result.outcome, result.value, prom.last_attempts) == (Outcome.VALUE, 7.0, 3)


def test_retries_are_bounded_and_end_in_error() -> None:
    transport = ScriptedTransport(requests.ConnectionError("connection refused"))
    prom = provider(transport, attempts=3)
    result = prom.query("up")
    assert result.outcome is Outcome.ERROR
    assert "cannot reach Prometheus at http://prom:9090 (3 attempts)" in result.message
    assert len(transport.sent) == 3


def test_timeouts_end_in_error_naming_the_budget() -> None:
    transport = ScriptedTransport(requests.ReadTimeout("read timed out"))
    result = provider(transport, timeout=0.5, attempts=2).query("up")
    assert result.outcome is Outcome.ERROR
    assert result.message == "Prometheus at http://prom:9090 did not answer within 0.5s (2 attempts)"


@pytest.mark.parametrize("status", [400, 422, 500, 503])
def test_http_errors_are_not_retried(status: int) -> None:
    body = {"status": "error", "errorType": "bad_data", "error": 'parse error: unexpected "}"'}
    transport = ScriptedTransport((status, body))
    prom = provider(transport)
    result = prom.query("sum(")
    assert result.outcome is Outcome.ERROR
    assert f"answered HTTP {status}" in result.message and "bad_data" in result.message
    assert (len(transport.sent), prom.last_attempts) == (1, 1)


def test_refused_address_sends_nothing() -> None:
    transport = ScriptedTransport(vector("1"))
    with pytest.raises(AddressNotAllowed):
        PrometheusProvider("http://evil:9090", allowlist=ALLOWLIST, session=transport)
    assert transport.sent == []
