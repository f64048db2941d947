"""Every row of the transition table, reached from a status and observations built for it.

The test is parametrized over ``TRANSITIONS`` itself: a new row without a way to reach it here
fails (``SETUPS`` has no entry for its event, or the setup does not lead to that row). Each case
also checks what the row must do: rollbacks push a revert with the right cause (or none), weights
sum to 100, and no weight goes to a target that is not ready.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from analysis.verdict import CheckResult, Range, Verdict
from controller.core.actions import (
    ApplyRevision,
    EnsurePrimary,
    EnsureServices,
    Finalize,
    PromotePrimary,
    PushRevert,
    ScaleTarget,
    SetWeights,
)
from controller.core.decide import TRANSITIONS, Event, classify, decide, describe_table, needs
from controller.core.observations import (
    ManualAction,
    ManualRequest,
    Observations,
    WebhookResult,
    WorkloadState,
)
from controller.core.spec import CanarySpec, WebhookType
from controller.core.status import (
    PROMOTION_PHASES,
    REST_PHASES,
    RUN_PHASES,
    Phase,
    QuarantineEntry,
    Revision,
    RollbackCause,
    Status,
)
from tests.unit.core.world import START, make_spec

A = Revision("a" * 40, "app:1")  # promoted
B = Revision("b" * 40, "app:2")  # the run's revision
C = Revision("c" * 40, "app:3")  # a newer commit
NOW = START + timedelta(hours=1)
METRIC = [{"name": "request-success-rate", "thresholdRange": {"min": 99}}]


@dataclass(frozen=True)
class Case:
    spec: CanarySpec
    status: Status
    obs: Observations


def _spec(hooks: list[dict[str, str]] | None = None, **top: Any) -> CanarySpec:
    analysis: dict[str, Any] = {
        "interval": "10s",
        "threshold": 3,
        "stepWeight": 20,
        "maxWeight": 60,
        "inconclusiveLimit": 3,
        "metrics": METRIC,
        "webhooks": hooks or [],
    }
    return make_spec(analysis, **top)


def _hook(kind: WebhookType) -> list[dict[str, str]]:
    return [{"name": f"h-{kind}", "type": str(kind), "url": "http://hooks/"}]


def _ready(image: str) -> WorkloadState:
    return WorkloadState(exists=True, image=image, replicas=2, ready_replicas=2, ready=True)


def _unready(image: str) -> WorkloadState:
    return WorkloadState(exists=True, image=image, replicas=2, ready_replicas=0, ready=False)


def base(phase: Phase, spec: CanarySpec | None = None, weight: int = 0) -> Case:
    """A plausible status and world for ``phase``: promoted A, run of B, Git declaring what fits."""
    running = phase in RUN_PHASES or phase in PROMOTION_PHASES
    status = Status(
        phase=phase,
        canary_weight=weight,
        current_revision=B if phase not in (Phase.INITIALIZING, Phase.INITIALIZED) else None,
        last_promoted_revision=A if phase is not Phase.INITIALIZING else None,
        run_id="1-bbbbbbbbbbbb",
        run_count=1,
        pre_rollout_done=weight > 0,
        last_check_time=NOW - timedelta(minutes=5),
        waiting_since=NOW - timedelta(seconds=5) if phase is Phase.PROMOTING else None,
    )
    declared = B if running else A
    obs = Observations(
        declared=declared,
        target=_ready(B.image) if running else WorkloadState(exists=True, image=A.image),
        primary=_ready(A.image),
        mesh_weights=(100 - weight, weight),
    )
    return Case(spec or _spec(), status, obs)


def _checks(verdict: Verdict) -> tuple[CheckResult, ...]:
    value = (
        None
        if verdict in (Verdict.INCONCLUSIVE, Verdict.ERROR)
        else (100.0 if verdict is Verdict.PASS else 90.0)
    )
    return (CheckResult("request-success-rate", verdict, value, Range(min=99), "q", ""),)


def _evaluating(
    phase: Phase,
    verdict: Verdict,
    weight: int = 20,
    spec: CanarySpec | None = None,
    hooks: tuple[WebhookResult, ...] = (),
    **status: Any,
) -> Case:
    case = base(phase, spec, weight=weight)
    return Case(
        case.spec,
        replace(case.status, **status),
        replace(case.obs, checks=_checks(verdict), webhooks=hooks),
    )


def _with_obs(case: Case, **obs: Any) -> Case:
    return replace(case, obs=replace(case.obs, **obs))


def _with_status(case: Case, **status: Any) -> Case:
    return replace(case, status=replace(case.status, **status))


def _manual(action: ManualAction) -> tuple[ManualRequest, ...]:
    return (ManualRequest(action, "token-1"),)


def _quarantine(image: str, commit: str = "f" * 40) -> tuple[QuarantineEntry, ...]:
    return (
        QuarantineEntry(
            image=image, run_id="0-ffffffffffff", commit=commit, reason="request-success-rate was 90"
        ),
    )


def _retry(phase: Phase) -> Case:
    case = base(phase)
    if phase in (Phase.FAILED, Phase.PAUSED):
        return _with_obs(
            _with_status(case, quarantine=_quarantine(B.image, B.commit)),
            declared=B,
            manual=_manual(ManualAction.RETRY),
        )
    return _with_obs(
        _with_status(case, quarantine=_quarantine(C.image)), declared=C, manual=_manual(ManualAction.RETRY)
    )


def _rollback_hook(phase: Phase) -> Case:
    spec = _spec(_hook(WebhookType.ROLLBACK))
    hooks = (WebhookResult("h-rollback", WebhookType.ROLLBACK, True),)
    if phase is Phase.WAITING:
        return _with_obs(base(phase, spec), webhooks=hooks, mesh_weights=(100, 0))
    return _evaluating(phase, Verdict.PASS, spec=spec, hooks=hooks)


def _gate_closed(phase: Phase) -> Case:
    if phase is Phase.WAITING:
        spec = _spec(_hook(WebhookType.CONFIRM_ROLLOUT))
        hooks = (WebhookResult("h-confirm-rollout", WebhookType.CONFIRM_ROLLOUT, False),)
        return _with_obs(base(phase, spec), webhooks=hooks)
    spec = _spec(_hook(WebhookType.CONFIRM_TRAFFIC_INCREASE))
    hooks = (WebhookResult("h-confirm-traffic-increase", WebhookType.CONFIRM_TRAFFIC_INCREASE, False),)
    return _evaluating(phase, Verdict.PASS, spec=spec, hooks=hooks)


def _promotion_gate_closed(phase: Phase) -> Case:
    spec = _spec(_hook(WebhookType.CONFIRM_PROMOTION))
    hooks = (WebhookResult("h-confirm-promotion", WebhookType.CONFIRM_PROMOTION, False),)
    return _evaluating(phase, Verdict.PASS, weight=60, spec=spec, hooks=hooks)


def _termination(phase: Phase, restore: bool) -> Case:
    case = base(phase, _spec(revertOnDeletion=restore))
    target = WorkloadState(exists=True, image=B.image, replicas=0)
    return _with_obs(case, deleting=True, target=target)


def _deadline(phase: Phase) -> Case:
    case = _with_status(base(phase, weight=0), waiting_since=NOW - timedelta(seconds=3600))
    if phase is Phase.PROMOTING:
        return _with_obs(case, primary=_unready(B.image))
    return _with_obs(case, target=_unready(B.image))


SETUPS: dict[Event, Callable[[Phase], Case]] = {
    Event.SUSPENDED: lambda p: _with_status(base(p), suspended=True),
    Event.SUSPENDED_TARGET_LOST: lambda p: _with_obs(
        _with_status(base(p, weight=20), suspended=True), target=_unready(B.image)
    ),
    Event.DELETION_REQUESTED: lambda p: _with_obs(base(p), deleting=True),
    Event.TERMINATION_WAIT: lambda p: _termination(p, restore=True),
    Event.TERMINATION_DONE: lambda p: _termination(p, restore=False),
    Event.NO_SOURCE: lambda p: _with_obs(base(p), declared=None, git_error="timeout"),
    Event.BOOTSTRAP: lambda p: _with_obs(base(p), declared=A, primary=WorkloadState()),
    Event.PRIMARY_READY: lambda p: _with_obs(base(p), declared=A),
    Event.NEW_REVISION: lambda p: _with_obs(base(p), declared=C),
    Event.PROMOTED_REDECLARED: lambda p: _with_obs(base(p), declared=A),
    Event.QUARANTINED_REVISION: lambda p: _with_obs(
        _with_status(base(p), quarantine=_quarantine(C.image)), declared=C
    ),
    Event.RETRY: _retry,
    Event.RETRY_UNDECLARED: lambda p: _with_obs(
        _with_status(base(p), quarantine=_quarantine(B.image, B.commit)),
        declared=A,
        manual=_manual(ManualAction.RETRY),
    ),
    Event.MANUAL_ABORT: lambda p: _with_obs(base(p), manual=_manual(ManualAction.ABORT)),
    Event.PROMOTE_REQUESTED: lambda p: _with_obs(base(p), manual=_manual(ManualAction.PROMOTE)),
    Event.TRAFFIC_DRAINING: lambda p: _with_obs(base(p), mesh_weights=(60, 40)),
    Event.GATE_OPEN: base,
    Event.GATE_CLOSED: _gate_closed,
    Event.ROLLBACK_HOOK: _rollback_hook,
    Event.TARGET_NOT_READY: lambda p: _with_obs(base(p, weight=20), target=_unready(B.image)),
    Event.TARGET_READY: lambda p: _with_status(base(p), waiting_since=NOW - timedelta(seconds=20)),
    Event.DEADLINE_EXCEEDED: _deadline,
    Event.SKIP_ANALYSIS: lambda p: base(p, _spec(skipAnalysis=True), weight=20),
    Event.CHECKS_FAILED: lambda p: _evaluating(p, Verdict.FAIL),
    Event.FAILED_THRESHOLD: lambda p: _evaluating(p, Verdict.FAIL, failed_checks=2),
    Event.CHECKS_INCONCLUSIVE: lambda p: _evaluating(p, Verdict.INCONCLUSIVE),
    Event.INCONCLUSIVE_LIMIT: lambda p: _evaluating(p, Verdict.ERROR, inconclusive_checks=2),
    Event.STEP: lambda p: _evaluating(p, Verdict.PASS),
    Event.PROMOTION_GATE_CLOSED: _promotion_gate_closed,
    Event.PROMOTE: lambda p: _evaluating(p, Verdict.PASS, weight=60),
    Event.TARGET_LOST: lambda p: _with_obs(
        base(p, weight=60), target=_unready(B.image), primary=_unready(B.image)
    ),
    Event.PRIMARY_NOT_READY: lambda p: base(p, weight=60),
    Event.PRIMARY_PROMOTED: lambda p: _with_obs(base(p, weight=60), primary=_ready(B.image)),
    Event.WEIGHTS_PENDING: lambda p: _with_obs(base(p), mesh_weights=(40, 60), primary=_ready(B.image)),
    Event.FINALISED: lambda p: _with_obs(base(p), primary=_ready(B.image)),
}

ROWS = sorted(TRANSITIONS.items(), key=lambda item: (item[0][0].value, item[0][1].value))

ROLLBACK_CAUSES: dict[Event, RollbackCause] = {
    Event.FAILED_THRESHOLD: RollbackCause.FAILED_CHECKS,
    Event.DEADLINE_EXCEEDED: RollbackCause.PROGRESS_DEADLINE,
    Event.ROLLBACK_HOOK: RollbackCause.ROLLBACK_WEBHOOK,
    Event.MANUAL_ABORT: RollbackCause.MANUAL_ABORT,
    Event.QUARANTINED_REVISION: RollbackCause.QUARANTINE,
}


@pytest.mark.parametrize(
    ("phase", "event"), [key for key, _ in ROWS], ids=[f"{p.value}-{e.value}" for (p, e), _ in ROWS]
)
def test_every_row_is_reachable_and_does_what_it_says(phase: Phase, event: Event) -> None:
    row = TRANSITIONS[(phase, event)]
    case = SETUPS[event](phase)
    decision = decide(case.spec, case.status, case.obs, NOW)
    assert decision.event is event, decision.reason
    assert decision.next_status.phase is row.next_phase
    assert decision.reason and "not expected" not in decision.reason
    # Same decision from the persisted status (I2).
    again = decide(case.spec, Status.from_dict(case.status.to_dict()), case.obs, NOW)
    assert again == decision
    # I3: traffic to the target only when it is ready with the run's image.
    nxt = decision.next_status
    target_ok = (
        case.obs.target.ready
        and nxt.current_revision is not None
        and (case.obs.target.image == nxt.current_revision.image)
    )
    for action in decision.actions:
        if isinstance(action, SetWeights):
            assert action.primary + action.canary == 100
            assert (action.canary == 0 and not action.match) or target_ok
    assert nxt.canary_weight == 0 or target_ok
    # I5: reverts only for the allowed causes, each with its own.
    pushes = [a for a in decision.actions if isinstance(a, PushRevert)]
    if event in ROLLBACK_CAUSES and row.next_phase in (Phase.FAILED, Phase.INITIALIZED, *REST_PHASES):
        assert [p.cause for p in pushes] == [ROLLBACK_CAUSES[event]]
        assert nxt.pending_revert is not None and nxt.pending_revert.revert_id == pushes[0].revert_id
    else:
        assert pushes == []
    if row.next_phase is not phase:
        assert nxt.last_transition_time == NOW


def test_every_event_but_idle_has_a_row() -> None:
    events_in_table = {event for _, event in TRANSITIONS}
    assert events_in_table == set(Event) - {Event.IDLE}
    assert set(SETUPS) == events_in_table


def test_table_describes_itself() -> None:
    text = describe_table()
    assert "Progressing --FailedThreshold--> Failed" in text
    assert len(text.splitlines()) == len(TRANSITIONS)


@pytest.mark.parametrize(
    ("event", "phase", "expected"),
    [
        (Event.BOOTSTRAP, Phase.INITIALIZING, [EnsurePrimary(A), EnsureServices()]),
        (Event.GATE_OPEN, Phase.WAITING, [ApplyRevision(B, 2)]),
        (Event.SKIP_ANALYSIS, Phase.PROGRESSING, [PromotePrimary(B)]),
        (Event.PRIMARY_PROMOTED, Phase.PROMOTING, [SetWeights(100, 0)]),
        (Event.FINALISED, Phase.FINALISING, [ScaleTarget(0)]),
        (Event.STEP, Phase.PROGRESSING, [SetWeights(60, 40)]),
        (Event.TERMINATION_DONE, Phase.TERMINATING, [Finalize(restore_target=False)]),
        (Event.TERMINATION_WAIT, Phase.TERMINATING, [ApplyRevision(A, 2)]),
        (Event.INCONCLUSIVE_LIMIT, Phase.PROGRESSING, [SetWeights(100, 0)]),
        (Event.CHECKS_INCONCLUSIVE, Phase.PROGRESSING, []),
        (Event.CHECKS_FAILED, Phase.PROGRESSING, []),
        (Event.PROMOTED_REDECLARED, Phase.PROGRESSING, [ScaleTarget(0)]),
        (Event.TARGET_NOT_READY, Phase.PROGRESSING, [SetWeights(100, 0)]),
    ],
)
def test_rows_issue_the_expected_world_changes(event: Event, phase: Phase, expected: list[object]) -> None:
    case = SETUPS[event](phase)
    decision = decide(case.spec, case.status, case.obs, NOW)
    kinds = (EnsurePrimary, EnsureServices, ApplyRevision, PromotePrimary, SetWeights, ScaleTarget, Finalize)
    assert [a for a in decision.actions if isinstance(a, kinds)] == expected


def test_failed_checks_count_and_hold_the_weight() -> None:
    case = SETUPS[Event.CHECKS_FAILED](Phase.PROGRESSING)
    nxt = decide(case.spec, case.status, case.obs, NOW).next_status
    assert (nxt.failed_checks, nxt.canary_weight, nxt.last_check_time) == (1, 20, NOW)
    assert nxt.checks[-1].verdict is Verdict.FAIL and nxt.checks[-1].value == 90.0


def test_inconclusive_never_counts_as_failure() -> None:
    case = SETUPS[Event.CHECKS_INCONCLUSIVE](Phase.PROGRESSING)
    nxt = decide(case.spec, case.status, case.obs, NOW).next_status
    assert (nxt.failed_checks, nxt.inconclusive_checks, nxt.canary_weight) == (0, 1, 20)


def test_fail_mixed_with_error_counts_as_a_failure() -> None:
    case = _evaluating(Phase.PROGRESSING, Verdict.FAIL)
    checks = (
        *_checks(Verdict.FAIL),
        CheckResult("latency", Verdict.ERROR, None, Range(max=5), "q", "timeout"),
    )
    decision = decide(case.spec, case.status, replace(case.obs, checks=checks), NOW)
    assert decision.event is Event.CHECKS_FAILED and decision.next_status.inconclusive_checks == 0


def test_rollback_message_names_metric_value_and_range() -> None:
    case = SETUPS[Event.FAILED_THRESHOLD](Phase.PROGRESSING)
    decision = decide(case.spec, case.status, case.obs, NOW)
    cond = decision.next_status.condition("Promoted")
    assert cond is not None and cond.status == "False"
    assert "request-success-rate was 90, outside the accepted range >= 99" in cond.message
    push = next(a for a in decision.actions if isinstance(a, PushRevert))
    assert push.to_revision == A and push.failed_revision == B and "request-success-rate" in push.reason
    assert decision.next_status.quarantined_images == (B.image,)


def test_pending_revert_is_reissued_until_confirmed_then_never_again() -> None:
    case = SETUPS[Event.FAILED_THRESHOLD](Phase.PROGRESSING)
    failed = decide(case.spec, case.status, case.obs, NOW).next_status
    rest = replace(case.obs, checks=None, declared=B, target=WorkloadState(exists=True, image=B.image))
    again = decide(case.spec, failed, rest, NOW + timedelta(seconds=10))
    assert [a.revert_id for a in again.actions if isinstance(a, PushRevert)] == [failed.run_id]
    from controller.core.observations import RevertOutcome

    confirmed = decide(
        case.spec,
        again.next_status,
        replace(rest, revert=RevertOutcome(failed.run_id, "d" * 40)),
        NOW + timedelta(seconds=20),
    )
    assert not any(isinstance(a, PushRevert) for a in confirmed.actions)
    assert confirmed.next_status.pending_revert is None and confirmed.next_status.revert_commit == "d" * 40
    later = decide(case.spec, confirmed.next_status, replace(rest, revert=None), NOW + timedelta(seconds=30))
    assert not any(isinstance(a, PushRevert) for a in later.actions)


def test_consumed_manual_token_is_not_acted_on_twice() -> None:
    case = SETUPS[Event.MANUAL_ABORT](Phase.PROGRESSING)
    first = decide(case.spec, case.status, case.obs, NOW)
    assert first.next_status.manual_tokens == {"abort": "token-1"}
    # A new run later, with the same annotation still present: no abort.
    st = replace(first.next_status, phase=Phase.PROGRESSING, canary_weight=0)
    second = decide(case.spec, st, case.obs, NOW + timedelta(seconds=10))
    assert second.event is not Event.MANUAL_ABORT


def test_manual_controls_wait_while_suspended() -> None:
    case = _with_obs(
        _with_status(base(Phase.PROGRESSING), suspended=True), manual=_manual(ManualAction.ABORT)
    )
    decision = decide(case.spec, case.status, case.obs, NOW)
    assert decision.event is Event.SUSPENDED and "abort" not in decision.next_status.manual_tokens
    assert [type(a).__name__ for a in decision.actions] == ["EmitEvent"] or not decision.actions


def test_promote_at_rest_is_ignored_with_a_note() -> None:
    case = _with_obs(base(Phase.SUCCEEDED), manual=_manual(ManualAction.PROMOTE))
    decision = decide(case.spec, case.status, case.obs, NOW)
    assert decision.event is Event.IDLE and not decision.next_status.promote_requested
    assert any(getattr(a, "reason", "") == "ManualPromoteIgnored" for a in decision.actions)


def test_git_read_error_mid_run_is_no_news() -> None:
    case = _with_obs(_evaluating(Phase.PROGRESSING, Verdict.PASS), declared=None, git_error="timeout")
    assert decide(case.spec, case.status, case.obs, NOW).event is Event.STEP


def test_due_check_without_results_waits() -> None:
    case = _with_obs(base(Phase.PROGRESSING, weight=20), checks=None)
    decision = decide(case.spec, case.status, case.obs, NOW)
    assert decision.event is Event.IDLE and decision.next_status == case.status


def test_at_rest_drift_is_repaired() -> None:
    case = _with_obs(
        base(Phase.SUCCEEDED), primary=WorkloadState(), target=_ready(B.image), mesh_weights=(90, 10)
    )
    actions = decide(case.spec, case.status, case.obs, NOW).actions
    assert actions == (SetWeights(100, 0), EnsurePrimary(A), ScaleTarget(0))


def test_classify_is_usable_on_its_own() -> None:
    case = SETUPS[Event.STEP](Phase.PROGRESSING)
    event, facts = classify(case.spec, case.status, case.obs, NOW)
    assert event is Event.STEP and "advancing app:2" in facts.message


@pytest.mark.parametrize(
    ("phase", "weight", "pre_done", "expected"),
    [
        (Phase.WAITING, 0, False, (False, ())),
        (
            Phase.PROGRESSING,
            0,
            False,
            (False, (WebhookType.PRE_ROLLOUT, WebhookType.CONFIRM_TRAFFIC_INCREASE)),
        ),
        (Phase.PROGRESSING, 20, True, (True, (WebhookType.ROLLOUT, WebhookType.CONFIRM_TRAFFIC_INCREASE))),
        (Phase.PROGRESSING, 60, True, (True, (WebhookType.ROLLOUT, WebhookType.CONFIRM_PROMOTION))),
        (Phase.WAITING_PROMOTION, 60, True, (True, (WebhookType.ROLLOUT, WebhookType.CONFIRM_PROMOTION))),
        (Phase.SUCCEEDED, 0, False, (False, ())),
        (Phase.PAUSED, 0, True, (False, ())),
    ],
)
def test_needs_asks_only_for_what_the_tick_will_use(
    phase: Phase, weight: int, pre_done: bool, expected: tuple[bool, tuple[WebhookType, ...]]
) -> None:
    kinds = [
        WebhookType.PRE_ROLLOUT,
        WebhookType.ROLLOUT,
        WebhookType.CONFIRM_TRAFFIC_INCREASE,
        WebhookType.CONFIRM_PROMOTION,
    ]
    spec = _spec([h for k in kinds for h in _hook(k)])
    status = replace(base(phase, spec, weight).status, pre_rollout_done=pre_done)
    got = needs(spec, status, NOW)
    assert (got.metrics, got.webhooks) == expected


def test_needs_nothing_before_the_interval_or_while_waiting_for_readiness() -> None:
    case = base(Phase.PROGRESSING, weight=20)
    recent = replace(case.status, last_check_time=NOW - timedelta(seconds=3))
    assert needs(case.spec, recent, NOW).metrics is False
    waiting = replace(case.status, waiting_since=NOW)
    assert needs(case.spec, waiting, NOW).metrics is False
    assert needs(case.spec, replace(case.status, suspended=True), NOW).metrics is False
    assert needs(case.spec, case.status, NOW).metrics is True


def test_status_fields_are_all_persisted() -> None:
    case = SETUPS[Event.FAILED_THRESHOLD](Phase.PROGRESSING)
    nxt = decide(case.spec, case.status, case.obs, NOW).next_status
    assert Status.from_dict(nxt.to_dict()) == nxt
    assert {f.name for f in dataclasses.fields(Status)} >= {"pending_revert", "run_id", "last_check_time"}
