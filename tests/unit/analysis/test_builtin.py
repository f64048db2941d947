"""Pins the built-in queries: every provider/metric/role renders through the safe template path into a
lexically sane PromQL query selecting the right workload, and unknown names fail loudly."""

from __future__ import annotations

import pytest

from analysis import promql
from analysis.builtin import (
    BUILTIN_METRICS,
    MESH_METRICS,
    UnknownBuiltinMetric,
    UnknownMeshProvider,
    builtin_template,
    higher_is_better,
    render_builtin,
    render_requests,
)
from analysis.template import TemplateContext, TemplateError

CTX = TemplateContext(name="podinfo", namespace="shop", target="podinfo", service="frontend", interval="2m")
PROVIDERS = sorted(MESH_METRICS)


def balanced(query: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for token in promql.tokenize(query):
        if token.text in "([{" and token.kind == "operator":
            stack.append(token.text)
        elif (
            token.text in pairs
            and token.kind == "operator"
            and (not stack or stack.pop() != pairs[token.text])
        ):
            return False
    return not stack


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("metric", BUILTIN_METRICS)
@pytest.mark.parametrize("role", ["canary", "primary"])
def test_builtins_render_to_sane_promql(provider: str, metric: str, role: str) -> None:
    query = render_builtin(provider, metric, CTX, role)  # type: ignore[arg-type]
    assert "{{" not in query and "}}" not in query
    assert balanced(query)
    tokens = promql.tokenize(query)
    assert any(t.kind == "duration" and t.text == "2m" for t in tokens)
    strings = [promql.unquote(t.text) for t in tokens if t.kind == "string"]
    assert any("shop" in s for s in strings), "the namespace selects the traffic"
    if metric == "request-success-rate":
        assert query.startswith("100 - (sum(rate(") and "or vector(0)" in query and query.endswith("* 100")
    else:
        assert query.startswith("histogram_quantile(0.99, sum(rate(") and "by (le)" in query


@pytest.mark.parametrize("provider", PROVIDERS)
def test_canary_and_primary_select_different_workloads(provider: str) -> None:
    canary = render_builtin(provider, "request-success-rate", CTX, "canary")
    primary = render_builtin(provider, "request-success-rate", CTX, "primary")
    assert canary != primary
    assert promql.structure(canary)[:4] == promql.structure(primary)[:4]


EXPECTED_SELECTION = {
    "envoy": (
        'envoy_cluster_upstream_rq_xx{envoy_cluster_name=~"shop_frontend-canary_[0-9]+"',
        'envoy_response_code_class="5"',
    ),
    "istio": ('destination_workload="podinfo"', 'response_code=~"5.."'),
    "linkerd": ('deployment="podinfo"', 'classification="failure"'),
    "nginx": ('canary=~"shop-frontend-canary-[0-9a-zA-Z-]+"', 'status=~"5.."'),
}  # fmt: skip


@pytest.mark.parametrize(("provider", "expected"), sorted(EXPECTED_SELECTION.items()))
def test_real_metric_and_label_names(provider: str, expected: tuple[str, str]) -> None:
    query = render_builtin(provider, "request-success-rate", CTX)
    for fragment in expected:
        assert fragment in query


def test_envoy_cluster_convention_for_primary() -> None:
    query = render_builtin("envoy", "request-duration", CTX, "primary")
    assert query == (
        "histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket"
        '{envoy_cluster_name=~"shop_frontend-primary_[0-9]+"}[2m])) by (le))'
    )


def test_nginx_duration_is_scaled_to_milliseconds() -> None:
    assert render_builtin("nginx", "request-duration", CTX).endswith(") * 1000")
    assert "_seconds_bucket" in builtin_template("nginx", "request-duration")


def test_aliases_share_queries() -> None:
    assert builtin_template("gatewayapi", "request-success-rate") == builtin_template(
        "envoy", "request-success-rate"
    )
    assert builtin_template("smi", "request-duration") == builtin_template("linkerd", "request-duration")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_request_count_query(provider: str) -> None:
    query = render_requests(provider, CTX)
    assert query.startswith("sum(increase(") and query.endswith("[2m]))")
    assert balanced(query)


def test_unknown_provider_fails_loudly_naming_the_known_ones() -> None:
    with pytest.raises(
        UnknownMeshProvider, match="no built-in metrics for provider 'kubernetes'; known: envoy"
    ):
        render_builtin("kubernetes", "request-success-rate", CTX)
    with pytest.raises(UnknownMeshProvider):
        render_requests("consul", CTX)


def test_unknown_builtin_metric_fails_loudly() -> None:
    with pytest.raises(UnknownBuiltinMetric, match="'error-rate' is not a built-in metric"):
        render_builtin("istio", "error-rate", CTX)
    with pytest.raises(UnknownBuiltinMetric):
        higher_is_better("error-rate")


def test_builtins_validate_values_like_templates() -> None:
    bad = TemplateContext(
        namespace='shop"} or vector(1)', target="podinfo", service="frontend", interval="1m"
    )
    with pytest.raises(TemplateError, match="namespace"):
        render_builtin("istio", "request-success-rate", bad)


def test_direction_of_builtins() -> None:
    assert higher_is_better("request-success-rate") is True
    assert higher_is_better("request-duration") is False
