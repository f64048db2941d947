"""Turn a metric value into a verdict: absolute ranges and relative (canary against primary) checks.

Pure functions. Missing data is not bad data: ``None``, NaN and too few requests give
``INCONCLUSIVE``, never ``FAIL``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from analysis.verdict import Range, Verdict


@dataclass(frozen=True)
class Assessment:
    """A verdict with the sentence that explains it."""

    verdict: Verdict
    message: str


def _missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


def _show(value: float) -> str:
    return f"{value:.6g}"


def explain(
    value: float | None, range: Range, min_requests: int = 0, requests: float | None = None
) -> Assessment:
    """:func:`assess` with the reason, for ``status.checks`` and events."""
    if min_requests > 0:
        if _missing(requests):
            return Assessment(Verdict.INCONCLUSIVE, f"request count unknown; minRequests is {min_requests}")
        assert requests is not None
        if requests < min_requests:
            return Assessment(
                Verdict.INCONCLUSIVE,
                f"only {_show(requests)} requests in the window; minRequests is {min_requests}",
            )
    if _missing(value):
        return Assessment(Verdict.INCONCLUSIVE, "no data" if value is None else "value is NaN")
    assert value is not None
    if range.contains(value):
        return Assessment(Verdict.PASS, f"{_show(value)} within {range.describe()}")
    return Assessment(Verdict.FAIL, f"{_show(value)} outside {range.describe()}")


def assess(
    value: float | None, range: Range, min_requests: int = 0, requests: float | None = None
) -> Verdict:
    """The verdict for ``value`` against the inclusive ``range``.

    ``None``/NaN -> INCONCLUSIVE; with ``min_requests > 0``, an unknown request count or fewer than
    ``min_requests`` requests -> INCONCLUSIVE; otherwise PASS inside the range, FAIL outside.
    Infinities are real values (a p99 beyond the last histogram bucket is +Inf) and are compared.
    """
    return explain(value, range, min_requests, requests).verdict


@dataclass(frozen=True)
class Comparison:
    """A relative check: the canary may be worse than the primary by at most ``tolerance`` percent.

    ``higher_is_better`` says which way "worse" points (success rate: higher; latency: lower).
    The bound is relative to the primary's value: with a primary p99 of 200 ms and a tolerance of
    10, the canary passes up to 220 ms.
    """

    tolerance: float = 0.0
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if math.isnan(self.tolerance) or self.tolerance < 0:
            raise ValueError(f"tolerance must be a percentage >= 0, got {self.tolerance}")

    def bound(self, primary: float) -> float:
        """The worst acceptable canary value given the primary's value."""
        margin = abs(primary) * self.tolerance / 100.0
        return primary - margin if self.higher_is_better else primary + margin


def explain_relative(canary: float | None, primary: float | None, comparison: Comparison) -> Assessment:
    """:func:`assess_relative` with the reason."""
    if _missing(canary):
        return Assessment(Verdict.INCONCLUSIVE, "no data for the canary")
    if _missing(primary):
        return Assessment(Verdict.INCONCLUSIVE, "no data for the primary (nothing to compare against)")
    assert canary is not None and primary is not None
    bound = comparison.bound(primary)
    ok = canary >= bound if comparison.higher_is_better else canary <= bound
    word = "at least" if comparison.higher_is_better else "at most"
    detail = (
        f"canary {_show(canary)}, primary {_show(primary)}, tolerance {comparison.tolerance:g}%: "
        f"canary must be {word} {_show(bound)}"
    )
    return Assessment(Verdict.PASS if ok else Verdict.FAIL, detail)


def assess_relative(canary: float | None, primary: float | None, comparison: Comparison) -> Verdict:
    """Canary against primary (``compare: primary``): PASS unless the canary is worse beyond tolerance.

    Missing or NaN data on either side -> INCONCLUSIVE.
    """
    return explain_relative(canary, primary, comparison).verdict


_SEVERITY = {Verdict.PASS: 0, Verdict.INCONCLUSIVE: 1, Verdict.ERROR: 2, Verdict.FAIL: 3}


def worst(*verdicts: Verdict) -> Verdict:
    """Combine verdicts of one metric: FAIL beats ERROR beats INCONCLUSIVE beats PASS."""
    return max(verdicts, key=_SEVERITY.__getitem__, default=Verdict.PASS)
