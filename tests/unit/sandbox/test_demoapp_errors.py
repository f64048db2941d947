"""The demo app's error schedule is exact: every window of k requests holds k * rate errors (rounded)."""

from __future__ import annotations

import pytest

from sandbox.demoapp import ErrorSchedule


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.2, 0.25, 1 / 3, 0.5, 1.0])
def test_error_share_is_exact_over_any_window(rate: float) -> None:
    schedule = ErrorSchedule(rate)
    outcomes = [schedule.next_fails() for _ in range(1000)]
    assert sum(outcomes) == round(1000 * rate)
    for start in (0, 137, 500):
        window = outcomes[start : start + 100]
        assert abs(sum(window) - 100 * rate) <= 1


def test_error_rate_outside_zero_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        ErrorSchedule(1.5)
