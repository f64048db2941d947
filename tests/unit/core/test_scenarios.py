"""Multi-tick runs of the core against a simulated world: whole stories, from commit to rest.

Pins: bootstrap without analysis; a good release promoted step by step; a bad one rolled back at
the threshold with exactly one revert commit; INCONCLUSIVE holding and pausing at the limit;
Prometheus ERROR never reverting Git; crashes at any tick resuming to the same end; a newer commit
restarting the run; the promoted image declared again cancelling the run; quarantine; manual
controls; gates; blue/green and A/B; deletion.
"""

from __future__ import annotations

from analysis.verdict import Verdict
from controller.core.actions import ApplyRevision, EmitEvent, PushRevert, ScaleTarget, SetWeights
from controller.core.decide import Event
from controller.core.observations import ManualAction
from controller.core.spec import WebhookType
from controller.core.status import Phase, RollbackCause
from tests.unit.core.world import World, bootstrapped, make_spec


def _weights(world: World) -> list[int]:
    return [a.canary for d in world.decisions for a in d.actions if isinstance(a, SetWeights)]


def _phase(world: World) -> Phase:
    return world.current().phase


def _at_rest(world: World) -> bool:
    st = world.current()
    return st.phase in (Phase.SUCCEEDED, Phase.FAILED) and st.pending_revert is None


def test_bootstrap_creates_primary_from_git_without_analysis() -> None:
    world = World(spec=make_spec())
    world.commit("app:1")
    world.run_until(lambda w: _phase(w) is Phase.INITIALIZED, limit=5)
    st = world.current()
    assert st.last_promoted_revision is not None and st.last_promoted_revision.image == "app:1"
    assert world.primary.image == "app:1" and world.target.replicas == 0
    assert world.metric_queries == 0
    promoted = st.condition("Promoted")
    assert promoted is not None and promoted.status == "True"


def test_bootstrap_waits_while_git_is_unreadable() -> None:
    world = World(spec=make_spec())
    world.commit("app:1")
    world.git_broken = True
    decisions = world.run(3)
    assert {d.event for d in decisions} == {Event.NO_SOURCE}
    assert "connection refused" in decisions[-1].reason
    world.git_broken = False
    world.run_until(lambda w: _phase(w) is Phase.INITIALIZED, limit=5)


def test_unreadable_git_is_a_condition_and_one_event_and_nothing_else() -> None:
    """Design section 6: an unreadable source is a clear condition on the Canary; nothing else changes."""
    world = bootstrapped(make_spec())
    world.git_broken = True
    decisions = world.run(3)
    cond = world.current().condition("SourceReady")
    assert cond is not None and cond.status == "False" and "connection refused" in cond.message
    warnings = [a for d in decisions for a in d.actions if isinstance(a, EmitEvent)]
    assert [(e.type, e.reason) for e in warnings] == [("Warning", "SourceUnreadable")]
    assert not [a for d in decisions for a in d.actions if not isinstance(a, EmitEvent)]
    assert world.current().phase is Phase.INITIALIZED
    world.git_broken = False
    world.run(1)
    cond = world.current().condition("SourceReady")
    assert cond is not None and cond.status == "True" and cond.reason == "SourceRead"


def test_good_release_is_promoted_step_by_step() -> None:
    world = bootstrapped(make_spec())
    world.commit("app:2")
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=40)
    assert _weights(world) == [20, 40, 60, 0]
    st = world.current()
    assert st.last_promoted_revision is not None and st.last_promoted_revision.image == "app:2"
    assert world.primary.image == "app:2" and world.target.replicas == 0 and world.mesh == (100, 0)
    assert not world.reverts_written
    events = [d.event for d in world.decisions]
    assert events.index(Event.PROMOTE) < events.index(Event.PRIMARY_PROMOTED) < events.index(Event.FINALISED)


def test_bad_release_rolls_back_at_threshold_and_reverts_git_once() -> None:
    world = bootstrapped(make_spec())
    world.verdict = lambda _t: Verdict.FAIL
    world.commit("app:2")
    world.run_until(_at_rest, limit=40)
    st = world.current()
    assert st.phase is Phase.FAILED and st.failed_checks == 3
    assert world.declared is not None and world.declared.image == "app:1"
    assert len(world.reverts_written) == 1 and st.revert_commit == world.declared.commit
    assert world.primary.image == "app:1" and world.target.replicas == 0 and world.mesh == (100, 0)
    promoted = st.condition("Promoted")
    assert promoted is not None and promoted.status == "False"
    assert "request-success-rate was 90, outside the accepted range >= 99" in promoted.message
    assert st.quarantined_images == ("app:2",)
    # Rollback order: traffic first, then scale down, then the revert.
    rollback = next(d for d in world.decisions if d.event is Event.FAILED_THRESHOLD)
    kinds = [type(a) for a in rollback.actions if isinstance(a, SetWeights | ScaleTarget | PushRevert)]
    assert kinds == [SetWeights, ScaleTarget, PushRevert]
    world.run(5)
    assert len(world.reverts_written) == 1


def test_rollback_without_git_revert_leaves_git_alone() -> None:
    world = bootstrapped(make_spec(rollback={"git": "none"}))
    world.verdict = lambda _t: Verdict.FAIL
    world.commit("app:2")
    world.run_until(lambda w: _phase(w) is Phase.FAILED, limit=40)
    world.run(3)
    assert not world.reverts_written and not any(
        isinstance(a, PushRevert) for d in world.decisions for a in d.actions
    )
    assert _phase(world) is Phase.FAILED  # Git still declares the failed image; no new run on it


def test_inconclusive_holds_the_weight_then_pauses_at_the_limit() -> None:
    world = bootstrapped(make_spec())
    world.commit("app:2")
    world.run_until(lambda w: w.current().canary_weight == 20, limit=20)
    world.verdict = lambda _t: Verdict.INCONCLUSIVE
    world.run_until(lambda w: _phase(w) is Phase.PAUSED, limit=20)
    st = world.current()
    assert st.inconclusive_checks == 3 and st.failed_checks == 0
    assert world.mesh == (100, 0) and st.canary_weight == 0
    assert not any(isinstance(a, PushRevert) for d in world.decisions for a in d.actions)
    holds = [d for d in world.decisions if d.event is Event.CHECKS_INCONCLUSIVE]
    assert len(holds) == 2 and all("missing data is not a failure" in d.reason for d in holds)
    # Paused stays paused (no queries) until retry.
    queries = world.metric_queries
    world.run(5)
    assert _phase(world) is Phase.PAUSED and world.metric_queries == queries
    world.verdict = lambda _t: Verdict.PASS
    world.request(ManualAction.RETRY)
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=40)
    assert world.primary.image == "app:2"


def test_prometheus_errors_never_revert_git() -> None:
    world = bootstrapped(make_spec())
    world.verdict = lambda _t: Verdict.ERROR
    world.commit("app:2")
    world.run(60)
    assert _phase(world) is Phase.PAUSED
    assert not world.reverts_written
    assert not any(isinstance(a, PushRevert) for d in world.decisions for a in d.actions)
    assert world.current().failed_checks == 0


def test_a_pass_resets_the_inconclusive_streak() -> None:
    verdicts = [Verdict.INCONCLUSIVE, Verdict.INCONCLUSIVE, Verdict.PASS] * 10
    world = bootstrapped(make_spec())
    count = iter(range(1000))
    world.verdict = lambda _t: verdicts[next(count) % len(verdicts)]
    world.commit("app:2")
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=80)


def test_restart_at_every_tick_reaches_the_same_end() -> None:
    """A crash after writing the status, before applying any action, at every other tick."""
    plain = bootstrapped(make_spec())
    plain.verdict = lambda _t: Verdict.FAIL
    plain.commit("app:2")
    plain.run_until(_at_rest, limit=60)

    crashy = bootstrapped(make_spec())
    crashy.verdict = lambda _t: Verdict.FAIL
    crashy.commit("app:2")
    for i in range(120):
        if _at_rest(crashy) and i > 5:
            break
        crashy.tick(crash=0 if i % 2 == 0 else None)
    assert crashy.current().phase is plain.current().phase is Phase.FAILED
    assert len(crashy.reverts_written) == len(plain.reverts_written) == 1
    assert crashy.declared is not None and crashy.declared.image == "app:1" == crashy.primary.image


def test_newer_commit_mid_run_restarts_on_it_with_traffic_back_to_primary_first() -> None:
    world = bootstrapped(make_spec())
    world.commit("app:2")
    world.run_until(lambda w: w.current().canary_weight == 40, limit=30)
    world.commit("app:3")
    decision = world.tick()
    assert decision.event is Event.NEW_REVISION and _phase(world) is Phase.WAITING
    assert decision.actions[0] == SetWeights(100, 0)
    assert not any(isinstance(a, ApplyRevision) for a in decision.actions)
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=40)
    assert world.primary.image == "app:3"
    assert not world.reverts_written


def test_redeclaring_the_promoted_image_mid_run_cancels_without_revert() -> None:
    world = bootstrapped(make_spec())
    world.commit("app:2")
    world.run_until(lambda w: w.current().canary_weight == 20, limit=30)
    world.commit("app:1")
    decision = world.tick()
    assert decision.event is Event.PROMOTED_REDECLARED
    assert _phase(world) is Phase.INITIALIZED and world.mesh == (100, 0) and world.target.replicas == 0
    world.run(5)
    assert not world.reverts_written and world.primary.image == "app:1"


def test_redeclaring_the_promoted_image_at_rest_is_a_noop() -> None:
    world = bootstrapped(make_spec())
    world.commit("app:1")
    decisions = world.run(5)
    assert all(d.event is Event.IDLE and not d.actions for d in decisions)


def test_quarantined_image_declared_again_is_reverted_at_once_without_canary() -> None:
    world = bootstrapped(make_spec())
    world.verdict = lambda _t: Verdict.FAIL
    world.commit("app:2")
    world.run_until(_at_rest, limit=40)
    failed_run = world.current().run_id
    applies = sum(isinstance(a, ApplyRevision) for d in world.decisions for a in d.actions)
    world.verdict = lambda _t: Verdict.PASS
    world.commit("app:2")  # an image updater pushes the failed tag back
    decision = world.tick()
    assert decision.event is Event.QUARANTINED_REVISION
    pushes = [a for a in decision.actions if isinstance(a, PushRevert)]
    assert len(pushes) == 1 and pushes[0].cause is RollbackCause.QUARANTINE
    world.run_until(_at_rest, limit=10)
    world.run(3)
    assert world.declared is not None and world.declared.image == "app:1"
    assert len(world.reverts_written) == 2
    assert sum(isinstance(a, ApplyRevision) for d in world.decisions for a in d.actions) == applies
    assert world.mesh == (100, 0) and world.target.replicas == 0
    cond = world.current().condition("Quarantined")
    assert cond is not None and cond.status == "True" and failed_run in cond.message


def test_retry_lifts_quarantine_and_the_next_commit_runs() -> None:
    world = bootstrapped(make_spec())
    world.verdict = lambda _t: Verdict.FAIL
    world.commit("app:2")
    world.run_until(_at_rest, limit=40)
    world.request(ManualAction.RETRY)
    decision = world.tick()
    assert decision.event is Event.RETRY_UNDECLARED and "commit app:2 again" in decision.reason
    assert world.current().quarantined_images == ()
    world.verdict = lambda _t: Verdict.PASS
    world.commit("app:2")
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=40)
    assert world.primary.image == "app:2"


def test_manual_abort_rolls_back_and_reverts() -> None:
    world = bootstrapped(make_spec())
    world.commit("app:2")
    world.run_until(lambda w: w.current().canary_weight == 20, limit=30)
    world.request(ManualAction.ABORT)
    decision = world.tick()
    assert decision.event is Event.MANUAL_ABORT
    push = next(a for a in decision.actions if isinstance(a, PushRevert))
    assert push.cause is RollbackCause.MANUAL_ABORT
    world.run_until(_at_rest, limit=10)
    assert world.declared is not None and world.declared.image == "app:1"
    # The same token is consumed once: nothing happens again.
    world.commit("app:3")
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=40)


def test_manual_promote_skips_the_remaining_steps() -> None:
    world = bootstrapped(make_spec())
    world.commit("app:2")
    world.run_until(lambda w: w.current().canary_weight == 20, limit=30)
    world.request(ManualAction.PROMOTE)
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=10)
    assert 40 not in _weights(world)
    assert world.primary.image == "app:2"


def test_suspend_stops_everything_and_resume_continues() -> None:
    world = bootstrapped(make_spec())
    world.commit("app:2")
    world.run_until(lambda w: w.current().canary_weight == 20, limit=30)
    world.request(ManualAction.SUSPEND)
    decisions = world.run(10)
    assert decisions[0].event is Event.SUSPENDED
    assert all(not [a for a in d.actions if a.__class__.__name__ != "EmitEvent"] for d in decisions)
    assert world.current().canary_weight == 20
    cond = world.current().condition("Suspended")
    assert cond is not None and cond.status == "True"
    world.request(ManualAction.RESUME)
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=40)


def test_suspended_canary_still_routes_away_from_an_unready_target() -> None:
    world = bootstrapped(make_spec())
    world.commit("app:2")
    world.run_until(lambda w: w.current().canary_weight == 20, limit=30)
    world.request(ManualAction.SUSPEND)
    world.tick()
    world.target.broken = True
    decision = world.tick()
    assert decision.event is Event.SUSPENDED_TARGET_LOST and world.mesh == (100, 0)


def test_progress_deadline_rolls_back() -> None:
    world = bootstrapped(make_spec())
    world.target.broken = True
    world.commit("app:2")
    world.run_until(_at_rest, limit=30)
    deadline = next(d for d in world.decisions if d.event is Event.DEADLINE_EXCEEDED)
    assert any(
        isinstance(a, PushRevert) and a.cause is RollbackCause.PROGRESS_DEADLINE for a in deadline.actions
    )
    assert world.declared is not None and world.declared.image == "app:1"


def test_target_losing_readiness_mid_run_routes_to_primary_and_recovers() -> None:
    world = bootstrapped(make_spec())
    world.commit("app:2")
    world.run_until(lambda w: w.current().canary_weight == 40, limit=30)
    world.target.broken = True
    decision = world.tick()
    assert decision.event is Event.TARGET_NOT_READY and world.mesh == (100, 0)
    world.target.broken = False
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=40)


def test_confirm_rollout_gate_holds_in_waiting() -> None:
    hooks = [{"name": "gate", "type": "confirm-rollout", "url": "http://gate/"}]
    spec = make_spec({"interval": "10s", "threshold": 2, "stepWeight": 50, "metrics": [], "webhooks": hooks})
    world = bootstrapped(spec)
    world.hooks[WebhookType.CONFIRM_ROLLOUT] = False
    world.commit("app:2")
    world.run(6)
    assert _phase(world) is Phase.WAITING and world.target.replicas == 0
    world.hooks[WebhookType.CONFIRM_ROLLOUT] = True
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=30)


def test_confirm_promotion_gate_holds_in_waiting_promotion() -> None:
    hooks = [{"name": "gate", "type": "confirm-promotion", "url": "http://gate/"}]
    spec = make_spec({"interval": "10s", "stepWeight": 50, "metrics": [], "webhooks": hooks})
    world = bootstrapped(spec)
    world.hooks[WebhookType.CONFIRM_PROMOTION] = False
    world.commit("app:2")
    world.run_until(lambda w: _phase(w) is Phase.WAITING_PROMOTION, limit=30)
    world.run(3)
    assert _phase(world) is Phase.WAITING_PROMOTION and world.primary.image == "app:1"
    world.hooks[WebhookType.CONFIRM_PROMOTION] = True
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=30)


def test_rollback_webhook_rolls_back_now() -> None:
    hooks = [{"name": "panic", "type": "rollback", "url": "http://ops/"}]
    spec = make_spec({"interval": "10s", "stepWeight": 20, "metrics": [], "webhooks": hooks})
    world = bootstrapped(spec)
    world.commit("app:2")
    world.run_until(lambda w: w.current().canary_weight == 20, limit=30)
    world.hooks[WebhookType.ROLLBACK] = True
    world.run_until(_at_rest, limit=10)
    assert _phase(world) is Phase.FAILED
    assert any(d.event is Event.ROLLBACK_HOOK for d in world.decisions)


def test_failed_pre_rollout_hook_counts_towards_the_threshold() -> None:
    hooks = [{"name": "smoke", "type": "pre-rollout", "url": "http://smoke/"}]
    spec = make_spec({"interval": "10s", "threshold": 2, "stepWeight": 20, "webhooks": hooks})
    world = bootstrapped(spec)
    world.hooks[WebhookType.PRE_ROLLOUT] = False
    world.commit("app:2")
    world.run_until(_at_rest, limit=30)
    assert _phase(world) is Phase.FAILED and world.metric_queries == 0
    assert world.current().failed_checks == 2


def test_skip_analysis_promotes_once_the_target_is_ready() -> None:
    world = bootstrapped(make_spec(skipAnalysis=True))
    world.commit("app:2")
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=15)
    assert world.metric_queries == 0 and world.primary.image == "app:2"


def test_blue_green_runs_iterations_at_zero_weight_then_switches() -> None:
    spec = make_spec(
        {
            "interval": "10s",
            "iterations": 3,
            "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}],
        },
        provider="kubernetes",
    )
    world = bootstrapped(spec)
    world.commit("app:2")
    world.run_until(lambda w: _phase(w) is Phase.PROMOTING, limit=30)
    assert world.metric_queries == 3 and world.current().iterations == 3
    assert world.mesh == (0, 100)  # all traffic to the tested target while the primary is replaced
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=10)
    assert world.mesh == (100, 0)


def test_ab_testing_routes_by_match_only_while_the_target_is_ready() -> None:
    spec = make_spec(
        {
            "interval": "10s",
            "iterations": 4,
            "match": [{"headers": {"x-canary": {"exact": "1"}}}],
            "metrics": [],
        },
        provider="istio",
    )
    world = bootstrapped(spec)
    world.commit("app:2")
    world.run_until(lambda w: w.mesh_match, limit=30)
    assert world.mesh == (100, 0)
    world.target.broken = True
    world.tick()
    assert not world.mesh_match
    world.target.broken = False
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=30)


def test_deletion_with_revert_on_deletion_restores_the_target() -> None:
    world = bootstrapped(make_spec(revertOnDeletion=True))
    world.deleting = True
    world.run_until(lambda w: w.finalized, limit=10)
    assert _phase(world) is Phase.TERMINATED
    assert world.target.image == "app:1" and world.target.replicas > 0


def test_no_metric_query_or_webhook_call_when_nothing_is_due() -> None:
    hooks = [{"name": "load", "type": "rollout", "url": "http://load/"}]
    spec = make_spec(
        {
            "interval": "1m",
            "stepWeight": 50,
            "maxWeight": 50,
            "webhooks": hooks,
            "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}],
        }
    )
    world = bootstrapped(spec)
    world.commit("app:2")
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=60)
    # 10 s ticks, 1 m interval: checks at weight 50 only, once per minute.
    assert world.metric_queries == 1
    assert world.webhook_calls.count(WebhookType.ROLLOUT) == 1


def test_retry_of_a_paused_run_works_while_git_is_unreadable() -> None:
    world = bootstrapped(make_spec())
    world.verdict = lambda _t: Verdict.INCONCLUSIVE
    world.commit("app:2")
    world.run_until(lambda w: _phase(w) is Phase.PAUSED, limit=30)
    world.git_broken = True
    world.verdict = lambda _t: Verdict.PASS
    world.request(ManualAction.RETRY)
    assert world.tick().event is Event.RETRY
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=40)
    assert world.primary.image == "app:2"


def test_retry_wins_over_the_quarantine_revert_when_git_declares_the_image_again() -> None:
    world = bootstrapped(make_spec())
    world.verdict = lambda _t: Verdict.FAIL
    world.commit("app:2")
    world.run_until(_at_rest, limit=40)
    world.verdict = lambda _t: Verdict.PASS
    world.commit("app:2")
    world.request(ManualAction.RETRY)
    assert world.tick().event is Event.RETRY
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=40)
    assert len(world.reverts_written) == 1 and world.primary.image == "app:2"


def test_quarantine_without_git_revert_refuses_the_image_and_says_so() -> None:
    world = bootstrapped(make_spec(rollback={"git": "none"}))
    world.verdict = lambda _t: Verdict.FAIL
    world.commit("app:2")
    world.run_until(lambda w: _phase(w) is Phase.FAILED, limit=40)
    world.commit("app:3")
    world.verdict = lambda _t: Verdict.PASS
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=40)
    world.commit("app:2")
    decisions = world.run(4)
    assert decisions[0].event is Event.QUARANTINED_REVISION
    assert all(d.event is Event.IDLE for d in decisions[1:])
    assert world.primary.image == "app:3" and world.target.replicas == 0 and not world.reverts_written
    cond = world.current().condition("Quarantined")
    assert cond is not None and cond.status == "True" and "app:2" in cond.message


def test_a_newer_commit_supersedes_a_pending_revert() -> None:
    world = bootstrapped(make_spec())
    world.verdict = lambda _t: Verdict.FAIL
    world.commit("app:2")
    world.run_until(lambda w: w.current().failed_checks == 2, limit=40)
    while _phase(world) is not Phase.FAILED:
        world.tick(crash=0)  # the revert is decided and recorded, but the process dies before pushing
    world.commit("app:3")  # a newer commit lands before the revert is pushed
    world.verdict = lambda _t: Verdict.PASS
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=40)
    assert world.declared is not None and world.declared.image == "app:3" == world.primary.image
    assert world.current().pending_revert is None and not world.reverts_written
    reasons = [getattr(a, "reason", "") for d in world.decisions for a in d.actions]
    assert "RevertSuperseded" in reasons


def test_promotion_under_way_finishes_before_a_newer_commit_starts_its_run() -> None:
    world = bootstrapped(make_spec())
    world.commit("app:2")
    world.run_until(lambda w: _phase(w) is Phase.PROMOTING, limit=40)
    world.commit("app:3")
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED, limit=10)
    assert world.primary.image == "app:2"
    world.run_until(lambda w: _phase(w) is Phase.SUCCEEDED and w.primary.image == "app:3", limit=40)
