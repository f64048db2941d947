"""Evaluate a canary's metrics at one check: plain data in, one :class:`CheckResult` per metric out.

The caller resolves ``templateRef`` (the MetricTemplate's query and provider) and builds the
providers; this module renders queries, asks the :class:`~analysis.query.Tick` (which de-duplicates
identical queries within the check), counts requests for ``minRequests`` and assesses the values.
Nothing here raises for bad templates or provider faults: they become ``ERROR`` results with a
message, which hold the canary's weight and never count as failures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from analysis.assess import Assessment, Comparison, explain, explain_relative, worst
from analysis.builtin import (
    BUILTIN_METRICS,
    UnknownBuiltinMetric,
    UnknownMeshProvider,
    is_builtin,
    render_builtin,
    render_requests,
)
from analysis.query import Outcome, QueryResult, Tick
from analysis.template import TemplateContext, TemplateError, VariableValue, render
from analysis.verdict import CheckResult, Range, Verdict

DEFAULT_PROVIDER = "default"


@dataclass(frozen=True)
class MetricSpec:
    """One entry of ``spec.analysis.metrics`` with its template already resolved.

    ``query`` is the MetricTemplate's query text, or ``None`` for a built-in metric (by ``name``).
    ``provider`` is the key of the provider in the check's :class:`Tick`; ``None`` means the canary's
    default provider. ``compare`` turns the metric into a relative check against the primary.
    """

    name: str
    range: Range = field(default_factory=Range)
    interval: str = "1m"
    query: str | None = None
    provider: str | None = None
    variables: Mapping[str, VariableValue] = field(default_factory=dict)
    compare: Comparison | None = None


@dataclass(frozen=True)
class CanaryRef:
    """The canary a check is about and what its built-in metrics need."""

    name: str
    namespace: str
    target: str
    service: str
    mesh: str  # the Canary's spec.provider: selects the built-in queries
    min_requests: int = 0
    provider: str = DEFAULT_PROVIDER  # provider key for built-ins and request counts

    def context(self, metric: MetricSpec) -> TemplateContext:
        """The template context for one metric."""
        return TemplateContext(
            name=self.name,
            namespace=self.namespace,
            target=self.target,
            service=self.service,
            interval=metric.interval,
            variables=dict(metric.variables),
        )


def evaluate(metrics: Sequence[MetricSpec], canary: CanaryRef, tick: Tick) -> list[CheckResult]:
    """Evaluate every metric once for this check, in order."""
    return [evaluate_metric(metric, canary, tick) for metric in metrics]


def _render(metric: MetricSpec, canary: CanaryRef, primary: bool) -> str:
    context = canary.context(metric)
    if metric.query is not None:
        return render(metric.query, context.for_primary() if primary else context)
    if not is_builtin(metric.name):
        raise UnknownBuiltinMetric(
            f"metric {metric.name!r} has no templateRef and is not a built-in ({', '.join(BUILTIN_METRICS)})"
        )
    return render_builtin(canary.mesh, metric.name, context, "primary" if primary else "canary")


def _value_of(result: QueryResult) -> float | None:
    return result.value if result.outcome is Outcome.VALUE else None


def evaluate_metric(metric: MetricSpec, canary: CanaryRef, tick: Tick) -> CheckResult:
    """One metric at one check: render, query, count requests, assess."""
    provider = metric.provider or canary.provider
    try:
        query = _render(metric, canary, primary=False)
        baseline_query = _render(metric, canary, primary=True) if metric.compare is not None else None
        count_query = (
            render_requests(canary.mesh, canary.context(metric)) if canary.min_requests > 0 else None
        )
    except (TemplateError, UnknownMeshProvider, UnknownBuiltinMetric) as exc:
        return CheckResult(
            metric.name, Verdict.ERROR, None, metric.range, "", f"cannot build the query: {exc}"
        )

    def result(verdict: Verdict, value: float | None, message: str) -> CheckResult:
        return CheckResult(metric.name, verdict, value, metric.range, query, message)

    answer = tick.query(provider, query)
    if answer.outcome is Outcome.ERROR:
        return result(Verdict.ERROR, None, answer.message)

    requests: float | None = None
    if count_query is not None:
        counted = tick.query(canary.provider, count_query)
        if counted.outcome is Outcome.ERROR:
            return result(Verdict.ERROR, _value_of(answer), f"cannot count requests: {counted.message}")
        requests = counted.value if counted.outcome is Outcome.VALUE else 0.0

    value = _value_of(answer)
    absolute = explain(value, metric.range, canary.min_requests, requests)
    if absolute.verdict is Verdict.INCONCLUSIVE and value is None and answer.message:
        absolute = Assessment(Verdict.INCONCLUSIVE, answer.message)
    if metric.compare is None or baseline_query is None:
        return result(absolute.verdict, value, absolute.message)

    baseline = tick.query(provider, baseline_query)
    if baseline.outcome is Outcome.ERROR:
        return result(Verdict.ERROR, value, f"primary baseline: {baseline.message}")
    relative = explain_relative(value, _value_of(baseline), metric.compare)
    if absolute.verdict is Verdict.INCONCLUSIVE:
        return result(Verdict.INCONCLUSIVE, value, absolute.message)
    checks = [relative]
    if metric.range.min is not None or metric.range.max is not None:
        checks.append(absolute)
    verdict = worst(*(check.verdict for check in checks))
    return result(verdict, value, "; ".join(check.message for check in checks))
