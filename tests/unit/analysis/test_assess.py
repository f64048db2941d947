"""Pins assess(): the verdict table for ranges, minRequests and missing data, plus relative checks."""

from __future__ import annotations

import math

import pytest

from analysis.assess import Comparison, assess, assess_relative, explain, explain_relative, worst
from analysis.verdict import Range, Verdict

NAN = math.nan
INF = math.inf

TABLE = [
    # value, range, min_requests, requests, expected
    (99.5, Range(min=99), 0, None, Verdict.PASS),
    (99.0, Range(min=99), 0, None, Verdict.PASS),  # bounds are inclusive
    (98.9, Range(min=99), 0, None, Verdict.FAIL),
    (500.0, Range(max=500), 0, None, Verdict.PASS),
    (500.1, Range(max=500), 0, None, Verdict.FAIL),
    (0.0, Range(min=0, max=1), 0, None, Verdict.PASS),
    (1.0, Range(min=0, max=1), 0, None, Verdict.PASS),
    (-0.1, Range(min=0, max=1), 0, None, Verdict.FAIL),
    (1.1, Range(min=0, max=1), 0, None, Verdict.FAIL),
    (12345.0, Range(), 0, None, Verdict.PASS),  # no bounds: any value passes
    (None, Range(min=99), 0, None, Verdict.INCONCLUSIVE),
    (NAN, Range(min=99), 0, None, Verdict.INCONCLUSIVE),
    (NAN, Range(), 0, None, Verdict.INCONCLUSIVE),
    (INF, Range(max=500), 0, None, Verdict.FAIL),  # p99 beyond the last bucket is a real, bad value
    (-INF, Range(min=0), 0, None, Verdict.FAIL),
    (INF, Range(min=0), 0, None, Verdict.PASS),
    (99.5, Range(min=99), 10, 9, Verdict.INCONCLUSIVE),
    (99.5, Range(min=99), 10, 10, Verdict.PASS),
    (50.0, Range(min=99), 10, 9, Verdict.INCONCLUSIVE),  # too few requests hides even a bad value
    (50.0, Range(min=99), 10, 1000, Verdict.FAIL),
    (99.5, Range(min=99), 10, None, Verdict.INCONCLUSIVE),  # unknown count with a minimum set
    (99.5, Range(min=99), 10, NAN, Verdict.INCONCLUSIVE),
    (99.5, Range(min=99), 0, 0, Verdict.PASS),  # no minimum: the count is ignored
    (None, Range(min=99), 10, 1000, Verdict.INCONCLUSIVE),
    (99.5, Range(min=99), 10, 10.5, Verdict.PASS),
]


@pytest.mark.parametrize(("value", "range_", "min_requests", "requests", "expected"), TABLE)
def test_assess_table(
    value: float | None, range_: Range, min_requests: int, requests: float | None, expected: Verdict
) -> None:
    assert assess(value, range_, min_requests, requests) is expected


def test_explain_says_why() -> None:
    assert explain(97.2, Range(min=99)).message == "97.2 outside >= 99"
    assert explain(99.5, Range(min=99)).message == "99.5 within >= 99"
    assert explain(None, Range(min=99)).message == "no data"
    assert explain(NAN, Range(min=99)).message == "value is NaN"
    assert "only 3 requests" in explain(99.5, Range(min=99), 10, 3).message


RELATIVE = [
    # canary, primary, tolerance, higher_is_better, expected
    (99.0, 99.5, 1.0, True, Verdict.PASS),  # bound 98.505
    (98.0, 99.5, 1.0, True, Verdict.FAIL),
    (100.0, 99.5, 0.0, True, Verdict.PASS),  # better than primary always passes
    (220.0, 200.0, 10.0, False, Verdict.PASS),  # bound 220 inclusive
    (220.1, 200.0, 10.0, False, Verdict.FAIL),
    (150.0, 200.0, 0.0, False, Verdict.PASS),
    (None, 200.0, 10.0, False, Verdict.INCONCLUSIVE),
    (200.0, None, 10.0, False, Verdict.INCONCLUSIVE),
    (NAN, 200.0, 10.0, False, Verdict.INCONCLUSIVE),
    (200.0, NAN, 10.0, False, Verdict.INCONCLUSIVE),
    (0.0, 0.0, 10.0, False, Verdict.PASS),
    (0.1, 0.0, 10.0, False, Verdict.FAIL),  # zero baseline: the canary may not be worse at all
]


@pytest.mark.parametrize(("canary", "primary", "tolerance", "higher", "expected"), RELATIVE)
def test_assess_relative(
    canary: float | None, primary: float | None, tolerance: float, higher: bool, expected: Verdict
) -> None:
    assert assess_relative(canary, primary, Comparison(tolerance, higher)) is expected


def test_relative_message_names_both_values_and_the_bound() -> None:
    message = explain_relative(250.0, 200.0, Comparison(10, higher_is_better=False)).message
    assert "canary 250" in message and "primary 200" in message and "at most 220" in message


@pytest.mark.parametrize("tolerance", [-1.0, NAN])
def test_comparison_rejects_bad_tolerance(tolerance: float) -> None:
    with pytest.raises(ValueError, match="tolerance"):
        Comparison(tolerance)


def test_worst_orders_fail_error_inconclusive_pass() -> None:
    assert worst(Verdict.PASS, Verdict.INCONCLUSIVE) is Verdict.INCONCLUSIVE
    assert worst(Verdict.INCONCLUSIVE, Verdict.ERROR) is Verdict.ERROR
    assert worst(Verdict.ERROR, Verdict.FAIL, Verdict.PASS) is Verdict.FAIL
    assert worst() is Verdict.PASS
