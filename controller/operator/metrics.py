"""The operator's own Prometheus series (DESIGN section 8), on a registry of its own.

``serinus_canary_status`` follows Flagger's ``canary_status``: 0 while a run is under way, 1 at rest
with the promoted revision serving (Initialized, Succeeded), 2 after a failed run, 3 while deleted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from analysis.verdict import CheckResult
from controller.core.status import Phase

STATUS_CODES: dict[Phase, int] = {
    Phase.INITIALIZING: 0,
    Phase.WAITING: 0,
    Phase.PROGRESSING: 0,
    Phase.PAUSED: 0,
    Phase.WAITING_PROMOTION: 0,
    Phase.PROMOTING: 0,
    Phase.FINALISING: 0,
    Phase.INITIALIZED: 1,
    Phase.SUCCEEDED: 1,
    Phase.FAILED: 2,
    Phase.TERMINATING: 3,
    Phase.TERMINATED: 3,
}


class OperatorMetrics:
    """The series of one operator process; ``render`` gives the text exposition for ``/metrics``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        canary = ["name", "namespace"]
        self.status = Gauge("serinus_canary_status",
                            "0 running, 1 promoted and at rest, 2 failed, 3 deleted", canary, registry=r)
        self.weight = Gauge("serinus_canary_weight", "percent of traffic routed to the canary", canary,
                            registry=r)
        self.metric_value = Gauge("serinus_canary_metric_value", "last value of each analysis metric",
                                  [*canary, "metric"], registry=r)
        self.checks = Counter("serinus_canary_checks", "metric checks by verdict", [*canary, "verdict"],
                              registry=r)
        self.runs = Counter("serinus_canary_runs", "finished runs by outcome", [*canary, "outcome"],
                            registry=r)
        self.git = Counter("serinus_git_operations", "Git operations by kind and result", ["op", "result"],
                           registry=r)
        self.duration = Histogram("serinus_canary_duration_seconds", "duration of finished runs", canary,
                                  buckets=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, float("inf")),
                                  registry=r)

    def observe_status(self, namespace: str, name: str, phase: Phase, weight: int) -> None:
        """Record the phase and weight just written."""
        self.status.labels(name, namespace).set(STATUS_CODES[phase])
        self.weight.labels(name, namespace).set(weight)

    def observe_checks(self, namespace: str, name: str, results: Iterable[CheckResult]) -> None:
        """Count this check's verdicts and keep each metric's value."""
        for result in results:
            self.checks.labels(name, namespace, result.verdict.value).inc()
            if result.value is not None:
                self.metric_value.labels(name, namespace, result.metric).set(result.value)

    def run_finished(self, namespace: str, name: str, outcome: str, seconds: float | None) -> None:
        """A run ended (``succeeded`` or ``failed``), after ``seconds`` when known."""
        self.runs.labels(name, namespace, outcome).inc()
        if seconds is not None and seconds >= 0:
            self.duration.labels(name, namespace).observe(seconds)

    def git_operation(self, op: str, result: str) -> None:
        """One Git operation (``declared``/``revert``) and its result."""
        self.git.labels(op, result).inc()

    def forget(self, namespace: str, name: str) -> None:
        """Drop the per-canary gauges of a deleted Canary."""
        for gauge in (self.status, self.weight):
            with contextlib.suppress(KeyError):
                gauge.remove(name, namespace)

    def render(self) -> bytes:
        """The text exposition format."""
        data: bytes = generate_latest(self.registry)
        return data
