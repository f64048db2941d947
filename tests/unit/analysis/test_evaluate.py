"""Pins evaluate(): one CheckResult per metric from plain specs, built-ins per mesh, templates,
minRequests, relative checks against the primary, de-duplication within a check, and faults becoming
ERROR, never raising."""

from __future__ import annotations

from analysis.assess import Comparison
from analysis.builtin import render_builtin, render_requests
from analysis.evaluate import CanaryRef, MetricSpec, evaluate, evaluate_metric
from analysis.providers.scripted import ScriptedProvider
from analysis.query import QueryResult, Tick
from analysis.template import TemplateContext
from analysis.verdict import Range, Verdict

CANARY = CanaryRef(name="podinfo", namespace="shop", target="podinfo", service="podinfo", mesh="istio")
CTX = TemplateContext(name="podinfo", namespace="shop", target="podinfo", service="podinfo", interval="1m")
SUCCESS = render_builtin("istio", "request-success-rate", CTX)
DURATION = render_builtin("istio", "request-duration", CTX)
SUCCESS_PRIMARY = render_builtin("istio", "request-success-rate", CTX, "primary")
REQUESTS = render_requests("istio", CTX)
LATENCY_TEMPLATE = (
    "histogram_quantile({{ variables.q }}, "
    'sum(rate(lat_bucket{pod=~"{{ target }}-.*"}[{{ interval }}])) by (le))'
)


def tick(script: dict[str, list[float | QueryResult | None]], **more: ScriptedProvider) -> Tick:
    return Tick({"default": ScriptedProvider(script), **more})


def test_builtins_pass_and_fail_with_rendered_query_and_message() -> None:
    metrics = [
        MetricSpec("request-success-rate", Range(min=99)),
        MetricSpec("request-duration", Range(max=500)),
    ]
    results = evaluate(metrics, CANARY, tick({SUCCESS: [99.5], DURATION: [750.0]}))
    assert [(r.metric, r.verdict, r.value) for r in results] == [
        ("request-success-rate", Verdict.PASS, 99.5),
        ("request-duration", Verdict.FAIL, 750.0),
    ]
    assert results[0].query == SUCCESS and results[1].query == DURATION
    assert results[1].message == "750 outside <= 500" and results[1].range == Range(max=500)


def test_no_data_and_nan_are_inconclusive() -> None:
    results = evaluate(
        [MetricSpec("request-success-rate", Range(min=99)), MetricSpec("request-duration", Range(max=500))],
        CANARY,
        tick({SUCCESS: [QueryResult.no_data("query returned no series")], DURATION: [float("nan")]}),
    )
    assert [r.verdict for r in results] == [Verdict.INCONCLUSIVE, Verdict.INCONCLUSIVE]
    assert results[0].message == "query returned no series"
    assert results[1].message == "value is NaN"


def test_provider_error_is_error_with_its_message() -> None:
    result = evaluate_metric(
        MetricSpec("request-success-rate", Range(min=99)),
        CANARY,
        tick({SUCCESS: [QueryResult.error("cannot reach Prometheus")]}),
    )
    assert (result.verdict, result.message, result.query) == (
        Verdict.ERROR,
        "cannot reach Prometheus",
        SUCCESS,
    )


def test_template_metric_uses_its_own_provider_and_variables() -> None:
    other = ScriptedProvider({"lat_bucket": [120.0]})
    spec = MetricSpec("p99", Range(max=500), interval="5m", query=LATENCY_TEMPLATE, provider="thanos",
                      variables={"q": "0.99"})  # fmt: skip
    result = evaluate_metric(spec, CANARY, tick({}, thanos=other))
    assert result.verdict is Verdict.PASS
    assert other.queries == ['histogram_quantile(0.99, sum(rate(lat_bucket{pod=~"podinfo-.*"}[5m])) by (le))']


def test_bad_template_or_value_is_error_not_exception() -> None:
    spec = MetricSpec("p99", Range(max=500), query=LATENCY_TEMPLATE, variables={"q": ") or vector(1"})
    result = evaluate_metric(spec, CANARY, tick({}))
    assert result.verdict is Verdict.ERROR
    assert result.message.startswith("cannot build the query: {{ variables.q }}")


def test_unknown_builtin_and_unknown_mesh_are_errors() -> None:
    unknown = evaluate_metric(MetricSpec("error-rate", Range(max=1)), CANARY, tick({}))
    assert unknown.verdict is Verdict.ERROR and "has no templateRef and is not a built-in" in unknown.message
    k8s = CanaryRef(name="a", namespace="b", target="a", service="a", mesh="kubernetes")
    no_mesh = evaluate_metric(MetricSpec("request-success-rate", Range(min=99)), k8s, tick({}))
    assert (
        no_mesh.verdict is Verdict.ERROR
        and "no built-in metrics for provider 'kubernetes'" in no_mesh.message
    )


def test_min_requests_counts_once_per_check_and_holds_below_the_minimum() -> None:
    canary = CanaryRef(**{**vars(CANARY), "min_requests": 100})
    metrics = [
        MetricSpec("request-success-rate", Range(min=99)),
        MetricSpec("request-duration", Range(max=500)),
    ]
    provider = ScriptedProvider({REQUESTS: [40.0], SUCCESS: [50.0], DURATION: [100.0]})
    the_tick = Tick({"default": provider})
    results = evaluate(metrics, canary, the_tick)
    assert [r.verdict for r in results] == [Verdict.INCONCLUSIVE, Verdict.INCONCLUSIVE]
    assert "only 40 requests in the window; minRequests is 100" in results[0].message
    assert provider.queries.count(REQUESTS) == 1 and the_tick.sent == 3


def test_min_requests_met_lets_the_value_decide() -> None:
    canary = CanaryRef(**{**vars(CANARY), "min_requests": 100})
    result = evaluate_metric(MetricSpec("request-success-rate", Range(min=99)), canary,
                             tick({REQUESTS: [400.0], SUCCESS: [50.0]}))  # fmt: skip
    assert result.verdict is Verdict.FAIL


def test_min_requests_with_no_traffic_data_is_inconclusive_and_count_error_is_error() -> None:
    canary = CanaryRef(**{**vars(CANARY), "min_requests": 1})
    spec = MetricSpec("request-success-rate", Range(min=99))
    assert (
        evaluate_metric(spec, canary, tick({REQUESTS: [None], SUCCESS: [100.0]})).verdict
        is Verdict.INCONCLUSIVE
    )
    errored = evaluate_metric(
        spec, canary, tick({REQUESTS: [QueryResult.error("timeout")], SUCCESS: [100.0]})
    )
    assert errored.verdict is Verdict.ERROR and errored.message == "cannot count requests: timeout"


def test_identical_metrics_in_one_check_send_one_query() -> None:
    provider = ScriptedProvider({SUCCESS: [99.0, 1.0]})
    the_tick = Tick({"default": provider})
    results = evaluate([MetricSpec("request-success-rate", Range(min=98))] * 3, CANARY, the_tick)
    assert [r.value for r in results] == [99.0, 99.0, 99.0]
    assert len(provider.queries) == 1


def test_relative_check_against_primary() -> None:
    spec = MetricSpec("request-success-rate", compare=Comparison(tolerance=1, higher_is_better=True))
    passing = evaluate_metric(spec, CANARY, tick({SUCCESS: [99.0], SUCCESS_PRIMARY: [99.5]}))
    failing = evaluate_metric(spec, CANARY, tick({SUCCESS: [90.0], SUCCESS_PRIMARY: [99.5]}))
    no_base = evaluate_metric(spec, CANARY, tick({SUCCESS: [99.0], SUCCESS_PRIMARY: [None]}))
    assert (passing.verdict, failing.verdict, no_base.verdict) == (
        Verdict.PASS,
        Verdict.FAIL,
        Verdict.INCONCLUSIVE,
    )
    assert "primary 99.5" in failing.message


def test_relative_check_with_absolute_range_fails_on_either() -> None:
    spec = MetricSpec("request-success-rate", Range(min=99.9), compare=Comparison(tolerance=5))
    result = evaluate_metric(spec, CANARY, tick({SUCCESS: [99.0], SUCCESS_PRIMARY: [99.0]}))
    assert result.verdict is Verdict.FAIL and "outside >= 99.9" in result.message


def test_relative_template_renders_for_the_primary_workload() -> None:
    provider = ScriptedProvider({'"podinfo-primary-.*"': [200.0], '"podinfo-.*"': [210.0]})
    spec = MetricSpec("p99", query=LATENCY_TEMPLATE, variables={"q": 0.99},
                      compare=Comparison(tolerance=10, higher_is_better=False))  # fmt: skip
    result = evaluate_metric(spec, CANARY, Tick({"default": provider}))
    assert result.verdict is Verdict.PASS and result.value == 210.0
    assert any("podinfo-primary-.*" in q for q in provider.queries)


def test_primary_error_is_error() -> None:
    spec = MetricSpec("request-success-rate", compare=Comparison(tolerance=1))
    result = evaluate_metric(spec, CANARY, tick({SUCCESS: [99.0], SUCCESS_PRIMARY: [QueryResult.error("x")]}))
    assert result.verdict is Verdict.ERROR and result.message == "primary baseline: x"


def test_results_serialise_to_status_entries() -> None:
    (result,) = evaluate([MetricSpec("request-success-rate", Range(min=99))], CANARY, tick({SUCCESS: [97.2]}))
    entry = result.to_status("2026-01-01T00:00:00Z")
    assert entry["verdict"] == "FAIL" and entry["value"] == 97.2 and entry["range"] == {"min": 99}
