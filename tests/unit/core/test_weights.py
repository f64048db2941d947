"""Step plans: stepWeight up to maxWeight (capped), stepWeights lists, blue/green and A/B iterations."""

from __future__ import annotations

from typing import Any

import pytest

from controller.core.spec import AnalysisSpec, parse_canary
from controller.core.weights import is_final_step, next_weight, promotion_weight, routes_by_match, step_plan
from tests.unit.core.world import canary_body


def _analysis(provider: str = "istio", **fields: Any) -> AnalysisSpec:
    return parse_canary(canary_body(fields, provider=provider)).analysis


@pytest.mark.parametrize(
    ("fields", "plan"),
    [
        ({"stepWeight": 10, "maxWeight": 50}, (10, 20, 30, 40, 50)),
        ({"stepWeight": 20, "maxWeight": 50}, (20, 40, 50)),  # the last step is capped at maxWeight
        ({"stepWeight": 25}, (25, 50, 75, 100)),
        ({"stepWeight": 100}, (100,)),
        ({"stepWeight": 1, "maxWeight": 3}, (1, 2, 3)),
        ({"stepWeights": [1, 5, 10, 25, 50]}, (1, 5, 10, 25, 50)),
        ({"stepWeights": [100]}, (100,)),
        ({"iterations": 5}, ()),
    ],
)
def test_step_plan(fields: dict[str, Any], plan: tuple[int, ...]) -> None:
    assert step_plan(_analysis(**fields)) == plan


@pytest.mark.parametrize(
    ("fields", "current", "expected"),
    [
        ({"stepWeight": 20, "maxWeight": 50}, 0, 20),
        ({"stepWeight": 20, "maxWeight": 50}, 20, 40),
        ({"stepWeight": 20, "maxWeight": 50}, 40, 50),
        ({"stepWeight": 20, "maxWeight": 50}, 50, 50),  # exhausted: stays
        ({"stepWeight": 20, "maxWeight": 50}, 30, 40),  # off-plan weight: next step above it
        ({"stepWeights": [1, 5, 10]}, 0, 1),
        ({"stepWeights": [1, 5, 10]}, 5, 10),
        ({"iterations": 3}, 0, 0),
    ],
)
def test_next_weight(fields: dict[str, Any], current: int, expected: int) -> None:
    assert next_weight(_analysis(**fields), current) == expected


def test_next_weight_never_exceeds_max_and_always_grows_until_it() -> None:
    for step in range(1, 101):
        for max_weight in range(step, 101, 7):
            analysis = _analysis(stepWeight=step, maxWeight=max_weight)
            weight, seen = 0, []
            while weight < max_weight:
                nxt = next_weight(analysis, weight)
                assert weight < nxt <= max_weight
                weight = nxt
                seen.append(weight)
            assert tuple(seen) == step_plan(analysis)


def test_is_final_step() -> None:
    canary = _analysis(stepWeight=20, maxWeight=60)
    assert not is_final_step(canary, 40, 0) and is_final_step(canary, 60, 0)
    blue_green = _analysis("kubernetes", iterations=3)
    assert not is_final_step(blue_green, 0, 1) and is_final_step(blue_green, 0, 2)


def test_promotion_weight_and_match_routing() -> None:
    assert promotion_weight(_analysis(stepWeight=20, maxWeight=60), 60) == 60
    assert promotion_weight(_analysis("kubernetes", iterations=3), 0) == 100
    ab = _analysis("nginx", iterations=3, match=[{"headers": {"x": {"exact": "1"}}}])
    assert routes_by_match(ab) and promotion_weight(ab, 0) == 100
    assert not routes_by_match(_analysis(stepWeight=10))
