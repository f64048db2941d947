"""Property tests of invariants I1-I5 over generated event sequences.

Hypothesis drives the simulated world with random verdicts, readiness flips, new commits (including
the promoted and failed images again), manual controls, gate answers, Git outages and crashes of the
controller between writing its status and applying its actions. After every tick:

- I3: every weight pair sums to 100; no weight (and no A/B match) goes to a target that is not ready
  with the run's image;
- I5: a revert is only ever created by a FAIL threshold, the progress deadline, a rollback webhook,
  a manual abort, or the quarantine of an image that failed that way; missing or erroring metrics
  never create one;
- I2/I4: the decision from the round-tripped status is the same (checked inside ``World.tick``), a
  confirmed revert is never issued again, and no revert is created twice.

Then the world settles (healthy target, passing checks, open gates) and I1 must hold: the image Git
declares is the image the primary runs.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from analysis.verdict import Verdict
from controller.core.actions import PushRevert, SetWeights
from controller.core.decide import Event
from controller.core.observations import ManualAction
from controller.core.spec import CanarySpec, WebhookType
from controller.core.status import Phase, RollbackCause, Status
from tests.unit.core.world import World, bootstrapped, make_spec

IMAGES = ["app:1", "app:2", "app:3", "app:4"]
GATES = [
    WebhookType.CONFIRM_ROLLOUT,
    WebhookType.PRE_ROLLOUT,
    WebhookType.ROLLOUT,
    WebhookType.CONFIRM_TRAFFIC_INCREASE,
    WebhookType.CONFIRM_PROMOTION,
    WebhookType.ROLLBACK,
]
CAUSE_OF: dict[Event, RollbackCause] = {
    Event.FAILED_THRESHOLD: RollbackCause.FAILED_CHECKS,
    Event.DEADLINE_EXCEEDED: RollbackCause.PROGRESS_DEADLINE,
    Event.ROLLBACK_HOOK: RollbackCause.ROLLBACK_WEBHOOK,
    Event.MANUAL_ABORT: RollbackCause.MANUAL_ABORT,
    Event.QUARANTINED_REVISION: RollbackCause.QUARANTINE,
}
METRICS = [
    {"name": "request-success-rate", "thresholdRange": {"min": 99}},
    {"name": "request-duration", "thresholdRange": {"max": 500}},
]


def _hooks() -> list[dict[str, str]]:
    return [{"name": f"h-{kind}", "type": str(kind), "url": "http://hooks/"} for kind in GATES]


def _spec(kind: str) -> CanarySpec:
    common: dict[str, Any] = {
        "interval": "10s",
        "threshold": 2,
        "inconclusiveLimit": 2,
        "metrics": METRICS,
        "webhooks": _hooks(),
    }
    if kind == "canary":
        return make_spec({**common, "stepWeight": 30, "maxWeight": 60}, progressDeadlineSeconds=40)
    if kind == "blue-green":
        return make_spec({**common, "iterations": 2}, provider="kubernetes", progressDeadlineSeconds=40)
    match = [{"headers": {"x-canary": {"exact": "1"}}}]
    return make_spec(
        {**common, "iterations": 2, "match": match}, provider="istio", progressDeadlineSeconds=40
    )


VERDICTS = [Verdict.PASS, Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.ERROR]
QUIET_VERDICTS = [Verdict.PASS, Verdict.PASS, Verdict.INCONCLUSIVE, Verdict.ERROR]

changes = st.one_of(
    st.tuples(st.just("commit"), st.sampled_from(IMAGES)),
    st.tuples(st.just("commit"), st.sampled_from(IMAGES)),
    st.tuples(st.just("flip"), st.booleans()),
    st.tuples(st.just("manual"), st.sampled_from(list(ManualAction))),
    st.tuples(st.just("hook"), st.sampled_from(GATES), st.booleans()),
    st.tuples(st.just("crash"), st.integers(0, 4)),
    st.tuples(st.just("git"), st.booleans()),
    st.tuples(st.just("none")),
)
quiet_changes = st.one_of(
    st.tuples(st.just("commit"), st.sampled_from(IMAGES)),
    st.tuples(
        st.just("manual"),
        st.sampled_from(
            [ManualAction.PROMOTE, ManualAction.RETRY, ManualAction.SUSPEND, ManualAction.RESUME]
        ),
    ),
    st.tuples(
        st.just("hook"),
        st.sampled_from(
            [WebhookType.CONFIRM_ROLLOUT, WebhookType.CONFIRM_PROMOTION, WebhookType.CONFIRM_TRAFFIC_INCREASE]
        ),
        st.booleans(),
    ),
    st.tuples(st.just("crash"), st.integers(0, 4)),
    st.tuples(st.just("git"), st.booleans()),
    st.tuples(st.just("none")),
)
# One step of a script: a change to the world, then some ticks under one verdict.
steps = st.tuples(changes, st.sampled_from(VERDICTS), st.integers(1, 6))
quiet_steps = st.tuples(quiet_changes, st.sampled_from(QUIET_VERDICTS), st.integers(1, 6))


class Checker:
    """Checks the per-tick invariants and remembers what revert ids were created."""

    def __init__(self) -> None:
        self.created: set[str] = set()

    def tick(self, world: World, crash: int | None = None) -> None:
        before = Status.from_dict(world.status)
        confirmed = set(world.confirmed_reverts)
        decision = world.tick(crash)
        obs = world.observations[-1]
        nxt = decision.next_status
        current = nxt.current_revision
        target_ok = obs.target.ready and current is not None and obs.target.image == current.image
        for action in decision.actions:
            if isinstance(action, SetWeights):
                assert action.primary + action.canary == 100
                assert (action.canary == 0 and not action.match) or target_ok, (decision.event, action)
        assert nxt.canary_weight == 0 or target_ok, decision.event
        assert sum(world.mesh) == 100
        if world.mesh[1] > 0 or world.mesh_match:
            assert target_ok or crash is not None, "traffic reaches a target that is not ready"
        old = before.pending_revert.revert_id if before.pending_revert else None
        for push in (a for a in decision.actions if isinstance(a, PushRevert)):
            assert push.revert_id not in confirmed, "a confirmed revert was issued again"
            if push.revert_id != old:
                assert push.revert_id not in self.created, "the same revert was created twice"
                self.created.add(push.revert_id)
                assert CAUSE_OF.get(decision.event) is push.cause, (decision.event, push.cause)
        assert "not expected" not in decision.reason, decision.reason


def drive(world: World, script: list[tuple[Any, ...]], checker: Checker) -> None:
    """Play a generated script against the world."""
    verdict = [Verdict.PASS]
    world.verdict = lambda _t: verdict[0]
    for change, step_verdict, ticks in script:
        crash: int | None = None
        if change[0] == "commit":
            world.commit(change[1])
        elif change[0] == "flip":
            world.target.broken = change[1]
        elif change[0] == "manual":
            world.request(change[1])
        elif change[0] == "hook":
            world.hooks[change[1]] = change[2]
        elif change[0] == "crash":
            crash = change[1]
        elif change[0] == "git":
            world.git_broken = change[1]
        verdict[0] = step_verdict
        for _ in range(ticks):
            checker.tick(world, crash)
            crash = None


def settle(world: World, checker: Checker) -> None:
    """Make the world healthy and tick until the Canary is at rest; then check I1."""
    world.verdict = lambda _t: Verdict.PASS
    world.hooks = {}
    world.target.broken = False
    world.git_broken = False
    world.request(ManualAction.RESUME)  # newer than any suspend: wins even if both are unconsumed
    quiet = 0
    for _ in range(300):
        st_ = world.current()
        if st_.phase is Phase.PAUSED:
            world.request(ManualAction.RETRY)
        at_rest = (
            st_.phase in (Phase.SUCCEEDED, Phase.FAILED, Phase.INITIALIZED) and st_.pending_revert is None
        )
        quiet = quiet + 1 if at_rest else 0
        if quiet >= 4:
            break
        checker.tick(world)
    else:
        raise AssertionError(f"did not settle; phase {world.current().phase}")
    declared = world.declared
    assert declared is not None
    assert declared.image == world.primary.image, "I1: Git and the primary disagree at rest"
    assert world.mesh == (100, 0) and world.target.replicas == 0
    promoted = world.current().last_promoted_revision
    assert promoted is not None and promoted.image == world.primary.image


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(kind=st.sampled_from(["canary", "blue-green", "ab"]), script=st.lists(steps, min_size=1, max_size=25))
@example(  # found by this test: a promote resuming a paused A/B run once routed matches to an unready target
    kind="ab",
    script=[
        (("commit", "app:2"), Verdict.PASS, 1),
        (("none",), Verdict.INCONCLUSIVE, 5),
        (("flip", True), Verdict.PASS, 1),
        (("manual", ManualAction.PROMOTE), Verdict.PASS, 1),
    ],
)
def test_invariants_hold_over_any_event_sequence(kind: str, script: list[tuple[Any, ...]]) -> None:
    world = bootstrapped(_spec(kind))
    checker = Checker()
    drive(world, script, checker)
    settle(world, checker)
    for seen in sorted({d.event.value for d in world.decisions}):
        event(seen)


@SETTINGS
@given(
    kind=st.sampled_from(["canary", "blue-green", "ab"]),
    script=st.lists(quiet_steps, min_size=1, max_size=25),
)
def test_missing_data_never_reverts_git(kind: str, script: list[tuple[Any, ...]]) -> None:
    """No FAIL, no abort, no rollback hook, a healthy target: whatever else happens, Git is never reverted."""
    world = bootstrapped(_spec(kind))
    checker = Checker()
    drive(world, script, checker)
    assert not world.reverts_written and not checker.created
    settle(world, checker)
    assert not world.reverts_written and not checker.created
