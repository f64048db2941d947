"""Step plans: how the target's traffic share grows during a run, and when the last step is reached.

Canary (weights): ``stepWeight`` adds a fixed step up to ``maxWeight`` (the last step is capped at
``maxWeight``, so ``stepWeight: 20, maxWeight: 50`` gives 20, 40, 50), or ``stepWeights`` lists the
steps. Blue/green: the target gets no weighted traffic while ``iterations`` checks run (it is tested
through its own Service), then all of it while the primary is updated. A/B: requests matching
``match`` go to the target and every check counts one iteration.
"""

from __future__ import annotations

from controller.core.spec import AnalysisSpec, Strategy


def step_plan(analysis: AnalysisSpec) -> tuple[int, ...]:
    """The canary weights of a run, in order; empty for blue/green and A/B (they count iterations)."""
    if analysis.strategy is not Strategy.CANARY:
        return ()
    if analysis.step_weights:
        return tuple(w for w in analysis.step_weights if w <= analysis.max_weight)
    step = analysis.step_weight or analysis.max_weight
    plan: list[int] = []
    weight = 0
    while weight < analysis.max_weight:
        weight = min(weight + step, analysis.max_weight)
        plan.append(weight)
    return tuple(plan)


def next_weight(analysis: AnalysisSpec, current: int) -> int:
    """The canary weight after one more passing step from ``current``.

    Canary: the first step of the plan above ``current`` (``current`` when the plan is exhausted).
    Blue/green and A/B: always 0, because their traffic is not weighted during analysis.
    """
    for weight in step_plan(analysis):
        if weight > current:
            return weight
    if analysis.strategy is not Strategy.CANARY:
        return 0
    return min(max(current, 0), analysis.max_weight)


def is_final_step(analysis: AnalysisSpec, weight: int, iterations: int) -> bool:
    """True when a check passing now is the last one the run needs before promotion.

    Canary: the weight has reached ``maxWeight``. Blue/green and A/B: ``iterations`` (the checks
    already passed) plus this one make ``analysis.iterations``.
    """
    if analysis.strategy is Strategy.CANARY:
        return weight >= analysis.max_weight
    return iterations + 1 >= analysis.iterations


def promotion_weight(analysis: AnalysisSpec, current: int) -> int:
    """The canary weight while the primary is being updated.

    Canary keeps the weight it reached (as Flagger does); blue/green and A/B send all traffic to
    the tested target, so the primary's pods can be replaced without serving mixed versions.
    """
    if analysis.strategy is Strategy.CANARY:
        return current
    return 100


def routes_by_match(analysis: AnalysisSpec) -> bool:
    """True when the mesh should send requests matching ``analysis.match`` to the target (A/B)."""
    return analysis.strategy is Strategy.AB_TESTING
