"""The run's state machine: ``decide(spec, status, observations, now) -> Decision``, and ``needs``.

One tick of the shell is ``needs -> gather observations -> decide -> write next_status -> apply
actions``. The status is written FIRST: it records the intent (a pending revert, the phase being
entered), so a crash or a failed action before the world caught up is repaired by the next tick,
which sees the world as it is and asks again for what is missing (the mesh weights read back, the
target's and primary's images, the revert still pending). ``decide`` is pure: the same inputs give
the same decision, so a controller restarted from the persisted status decides exactly as the one
that crashed would have (I2).

How a decision is made:

1. Manual controls whose token is new are consumed (``suspend``/``resume`` flip a flag, ``promote``
   marks the run to skip its remaining steps, ``abort``/``retry`` become events).
2. A revert push still pending is confirmed by ``observations.revert`` or issued again.
3. ``classify`` reduces the observations to ONE ``Event`` for the current phase (in priority order:
   deletion, suspension, Git, manual controls, then the phase's own business).
4. ``TRANSITIONS[(phase, event)]`` names the next phase and the steps that build the next status
   and the actions. The table is the machine; the steps are small and named.
5. Routing follows the status: whenever the desired weights change (or the mesh reads back other
   weights) a ``SetWeights`` goes FIRST, so traffic leaves the target before it is scaled down or
   replaced.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from analysis.verdict import CheckResult, Range, Verdict
from controller.core.actions import (
    Action,
    ApplyRevision,
    CallWebhooks,
    EmitEvent,
    EnsurePrimary,
    EnsureServices,
    Finalize,
    PromotePrimary,
    PushRevert,
    ScaleTarget,
    SetWeights,
)
from controller.core.observations import ManualAction, Needs, Observations, WebhookResult
from controller.core.spec import CanarySpec, RollbackGit, Strategy, WebhookType
from controller.core.status import (
    PROMOTION_PHASES,
    REST_PHASES,
    RUN_PHASES,
    CheckRecord,
    PendingRevert,
    Phase,
    QuarantineEntry,
    Revision,
    RollbackCause,
    Status,
    format_time,
)
from controller.core.weights import is_final_step, next_weight, promotion_weight, routes_by_match


class Event(enum.StrEnum):
    """What one tick's observations amount to, for the current phase."""

    IDLE = "Idle"  # nothing to do this tick (no transition; not in the table)
    SUSPENDED = "Suspended"
    SUSPENDED_TARGET_LOST = "SuspendedTargetLost"
    DELETION_REQUESTED = "DeletionRequested"
    TERMINATION_WAIT = "TerminationWait"
    TERMINATION_DONE = "TerminationDone"
    NO_SOURCE = "NoSource"
    BOOTSTRAP = "Bootstrap"
    PRIMARY_READY = "PrimaryReady"
    NEW_REVISION = "NewRevision"
    PROMOTED_REDECLARED = "PromotedRedeclared"
    QUARANTINED_REVISION = "QuarantinedRevision"
    RETRY = "Retry"
    RETRY_UNDECLARED = "RetryUndeclared"
    MANUAL_ABORT = "ManualAbort"
    ROLLBACK_HOOK = "RollbackHook"
    TRAFFIC_DRAINING = "TrafficDraining"
    GATE_OPEN = "GateOpen"
    GATE_CLOSED = "GateClosed"
    TARGET_NOT_READY = "TargetNotReady"
    TARGET_READY = "TargetReady"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    SKIP_ANALYSIS = "SkipAnalysis"
    CHECKS_FAILED = "ChecksFailed"
    FAILED_THRESHOLD = "FailedThreshold"
    CHECKS_INCONCLUSIVE = "ChecksInconclusive"
    INCONCLUSIVE_LIMIT = "InconclusiveLimit"
    STEP = "Step"
    PROMOTION_GATE_CLOSED = "PromotionGateClosed"
    PROMOTE = "Promote"
    PROMOTE_REQUESTED = "PromoteRequested"
    TARGET_LOST = "TargetLost"
    PRIMARY_NOT_READY = "PrimaryNotReady"
    PRIMARY_PROMOTED = "PrimaryPromoted"
    WEIGHTS_PENDING = "WeightsPending"
    FINALISED = "Finalised"


@dataclass(frozen=True)
class Facts:
    """What ``classify`` found besides the event: the words for people and the data steps need."""

    message: str
    records: tuple[CheckRecord, ...] = ()
    failure: str = ""  # why the run fails (metric, value, range), for the Promoted condition and Git
    revision: Revision | None = None  # the revision a new run starts on
    image: str = ""  # the image a retry lifts the quarantine of


@dataclass(frozen=True)
class Context:
    """Inputs of one decision, shared by the steps of a transition."""

    spec: CanarySpec
    obs: Observations
    now: datetime
    facts: Facts


Step = Callable[[Context, Status], tuple[Status, list[Action]]]


@dataclass(frozen=True)
class Transition:
    """A row of the table: where the event leads and what is done on the way.

    ``warning``: the Kubernetes event is a Warning. ``quiet``: the row repeats tick after tick while
    waiting, so its event is emitted only when the phase changes.
    """

    next_phase: Phase
    steps: tuple[Step, ...] = ()
    warning: bool = False
    quiet: bool = False


@dataclass(frozen=True)
class Decision:
    """The outcome of one tick: the status to write, the actions to apply (in order), and why."""

    next_status: Status
    actions: tuple[Action, ...]
    reason: str
    event: Event


# --------------------------------------------------------------------------------------------
# Facts about the world, derived the same way by needs, classify and the steps


def _target_ready(st: Status, obs: Observations) -> bool:
    current = st.current_revision
    return current is not None and obs.target.ready and obs.target.image == current.image


def _target_replicas(obs: Observations) -> int:
    return max(1, obs.primary.replicas)


def _due(spec: CanarySpec, st: Status, now: datetime) -> bool:
    if st.last_check_time is None:
        return True
    return (now - st.last_check_time).total_seconds() >= spec.analysis.interval


def _metrics_stage(spec: CanarySpec, st: Status) -> bool:
    """True when the target receives traffic (or, blue/green, test load) worth measuring."""
    if spec.analysis.strategy is Strategy.CANARY:
        return st.canary_weight > 0
    return st.pre_rollout_done


def _routes(spec: CanarySpec, st: Status) -> SetWeights:
    """The mesh routing the status asks for."""
    match = (
        routes_by_match(spec.analysis)
        and st.phase in (Phase.PROGRESSING, Phase.WAITING_PROMOTION)
        and st.pre_rollout_done
        and st.waiting_since is None
    )
    weight = min(max(st.canary_weight, 0), 100)
    return SetWeights(primary=100 - weight, canary=weight, match=match)


@dataclass(frozen=True)
class _Plan:
    metrics: bool
    webhooks: tuple[WebhookType, ...]
    final: bool


def _plan(spec: CanarySpec, st: Status, now: datetime) -> _Plan | None:
    """The evaluation due this tick, or None; ``needs`` and ``classify`` share it."""
    if spec.suspend or st.suspended:
        return None
    if st.phase is Phase.WAITING:
        if st.promote_requested or not _due(spec, st, now):
            return None
        return _Plan(False, (WebhookType.ROLLBACK, WebhookType.CONFIRM_ROLLOUT), False)
    if st.phase not in (Phase.PROGRESSING, Phase.WAITING_PROMOTION):
        return None
    if st.waiting_since is not None or spec.skip_analysis or st.promote_requested:
        return None
    if not _due(spec, st, now):
        return None
    metrics = _metrics_stage(spec, st)
    final = st.phase is Phase.WAITING_PROMOTION or (
        metrics and is_final_step(spec.analysis, st.canary_weight, st.iterations)
    )
    hooks: list[WebhookType] = [WebhookType.ROLLBACK]
    if metrics:
        hooks.append(WebhookType.ROLLOUT)
    elif not st.pre_rollout_done:
        hooks.append(WebhookType.PRE_ROLLOUT)
    hooks.append(WebhookType.CONFIRM_PROMOTION if final else WebhookType.CONFIRM_TRAFFIC_INCREASE)
    return _Plan(metrics, tuple(hooks), final)


def needs(spec: CanarySpec, status: Status, now: datetime) -> Needs:
    """What the shell must gather this tick: metric checks and which webhook types to call.

    Only webhook types the spec declares are listed, in call order; ``metrics`` is False when no
    check is due (or the spec has no metrics), so Prometheus is not queried for nothing.
    """
    plan = _plan(spec, status, now)
    if plan is None:
        return Needs(reason=f"no check due in phase {status.phase}")
    kinds = tuple(k for k in plan.webhooks if spec.analysis.webhooks_of(k))
    what = "metric checks" if plan.metrics and spec.analysis.metrics else "gates"
    return Needs(
        metrics=plan.metrics and bool(spec.analysis.metrics),
        webhooks=kinds,
        reason=f"{what} due in phase {status.phase}",
    )


# --------------------------------------------------------------------------------------------
# Words


def _describe_value(value: float | None) -> str:
    return "no value" if value is None else f"{value:g}"


def _describe_check(result: CheckResult) -> str:
    if result.verdict is Verdict.FAIL:
        return (
            f"{result.metric} was {_describe_value(result.value)}, "
            f"outside the accepted range {result.range.describe()}"
        )
    if result.verdict is Verdict.INCONCLUSIVE:
        return f"{result.metric} had no usable data" + (f" ({result.message})" if result.message else "")
    if result.verdict is Verdict.ERROR:
        return f"{result.metric} could not be queried" + (f" ({result.message})" if result.message else "")
    return f"{result.metric} was {_describe_value(result.value)}, within {result.range.describe()}"


def _describe_hook(result: WebhookResult) -> str:
    return f"{result.type} webhook {result.name} failed" + (f": {result.message}" if result.message else "")


def _hook_record(result: WebhookResult, time: str) -> CheckRecord:
    return CheckRecord(
        time=time,
        metric=f"webhook/{result.name}",
        verdict=Verdict.PASS if result.ok else Verdict.FAIL,
        range=Range(),
        query=str(result.type),
        message=result.message,
    )


# --------------------------------------------------------------------------------------------
# Classification: one event per tick


def _retry_image(st: Status, obs: Observations) -> str:
    if st.phase in (Phase.FAILED, Phase.PAUSED) and st.current_revision is not None:
        return st.current_revision.image
    declared = obs.declared
    if declared is not None and st.quarantine_entry(declared.image) is not None:
        return declared.image
    return ""


def classify(
    spec: CanarySpec, st: Status, obs: Observations, now: datetime, manual: ManualAction | None = None
) -> tuple[Event, Facts]:
    """Reduce one tick's observations to one event for ``st.phase`` (highest priority first)."""
    phase = st.phase
    if phase is Phase.TERMINATED:
        if obs.deleting:  # the finalizer is still there (a crash after writing the status): release again
            return Event.TERMINATION_DONE, Facts("deleted; releasing the Canary")
        return Event.IDLE, Facts("the Canary is deleted; nothing left to do")
    if phase is Phase.TERMINATING:
        return _classify_termination(spec, st, obs)
    if obs.deleting:
        return Event.DELETION_REQUESTED, Facts("the Canary is being deleted")
    if spec.suspend or st.suspended:
        routed = _routes(spec, st)
        if (routed.canary > 0 or routed.match) and not _target_ready(st, obs):
            return Event.SUSPENDED_TARGET_LOST, Facts(
                "suspended, but the target is no longer ready: all traffic goes back to the primary"
            )
        how = "spec.suspend is true" if spec.suspend else "suspended by `serinus suspend`"
        return Event.SUSPENDED, Facts(f"{how}; nothing is changed until it is resumed")
    declared = obs.declared
    if phase is Phase.INITIALIZING:
        if declared is None:
            why = obs.git_error or "no revision read yet"
            return Event.NO_SOURCE, Facts(f"cannot bootstrap: Git could not be read ({why})")
        if obs.primary.ready and obs.primary.image == declared.image:
            return Event.PRIMARY_READY, Facts(
                f"primary is ready with {declared.describe()}; the Canary is initialized", revision=declared
            )
        return Event.BOOTSTRAP, Facts(
            f"bootstrapping the primary from what Git declares now: {declared.describe()}", revision=declared
        )
    if phase in PROMOTION_PHASES:
        return _classify_promotion(spec, st, obs, now)

    promoted = st.last_promoted_revision
    promoted_image = promoted.image if promoted is not None else ""
    current = st.current_revision
    if manual is ManualAction.ABORT and phase in RUN_PHASES and current is not None:
        return Event.MANUAL_ABORT, Facts(
            f"aborted by `serinus abort`: rolling {current.describe()} back",
            failure="aborted by a person with `serinus abort`",
        )
    retry_image = _retry_image(st, obs) if manual is ManualAction.RETRY else ""
    # A paused run is retried on its revision even while Git cannot be read (it was declared when
    # last seen; a different declaration read later starts its own run).
    rerun = declared if declared is not None else (current if phase is Phase.PAUSED else None)
    if retry_image and rerun is not None and rerun.image == retry_image != promoted_image:
        return Event.RETRY, Facts(
            f"retry requested: quarantine of {retry_image} lifted, running it again",
            revision=rerun,
            image=retry_image,
        )

    if declared is not None:
        if declared.image == promoted_image:
            if phase in RUN_PHASES and current is not None:
                return Event.PROMOTED_REDECLARED, Facts(
                    f"Git declares the promoted image {promoted_image} again (commit {declared.commit[:7]}): "
                    f"the run of {current.image} is cancelled, nothing to revert",
                    revision=declared,
                )
        elif (entry := st.quarantine_entry(declared.image)) is not None:
            redeclared = declared.commit not in (entry.commit, st.handled_commit)
            in_other_run = phase in RUN_PHASES and (current is None or current.image != declared.image)
            if st.pending_revert is None and (redeclared or in_other_run):
                return Event.QUARANTINED_REVISION, Facts(
                    f"Git declares {declared.describe()} again, but run {entry.run_id or '?'} failed it "
                    f"({entry.reason or 'no reason recorded'}); no canary is started",
                    revision=declared,
                    image=declared.image,
                )
        elif phase in RUN_PHASES:
            if current is None or declared.image != current.image:
                was = f" (replacing the run of {current.image})" if current is not None else ""
                return Event.NEW_REVISION, Facts(
                    f"new revision {declared.describe()}{was}; traffic goes back to the primary first",
                    revision=declared,
                )
        elif phase in REST_PHASES and not (
            phase is Phase.FAILED and current is not None and declared.commit == current.commit
        ):
            return Event.NEW_REVISION, Facts(
                f"new revision {declared.describe()} (promoted: {promoted_image or 'none'})",
                revision=declared,
            )

    if retry_image:  # Git declares something else: lift the quarantine, a new commit runs it
        now_declared = declared.image if declared is not None else "nothing readable"
        return Event.RETRY_UNDECLARED, Facts(
            f"retry requested: quarantine of {retry_image} lifted; Git declares {now_declared}, "
            f"so commit {retry_image} again to run it",
            image=retry_image,
        )
    if phase is Phase.WAITING:
        return _classify_waiting(spec, st, obs, now)
    if phase in (Phase.PROGRESSING, Phase.WAITING_PROMOTION):
        return _classify_analysis(spec, st, obs, now)
    if phase is Phase.PAUSED and st.promote_requested:
        return Event.PROMOTE_REQUESTED, Facts(
            "promotion requested with `serinus promote`: resuming to promote"
        )
    if phase is Phase.PAUSED:
        return Event.IDLE, Facts(
            "paused after too many inconclusive checks; `serinus retry` or a new commit resumes"
        )
    return Event.IDLE, Facts(f"at rest in phase {phase}")


def _classify_termination(spec: CanarySpec, st: Status, obs: Observations) -> tuple[Event, Facts]:
    promoted = st.last_promoted_revision
    if not spec.revert_on_deletion or promoted is None:
        return Event.TERMINATION_DONE, Facts("deleted; releasing the Canary")
    if obs.target.ready and obs.target.image == promoted.image:
        return Event.TERMINATION_DONE, Facts(f"target runs {promoted.image} again; releasing the Canary")
    return Event.TERMINATION_WAIT, Facts(f"restoring the target to {promoted.image} before release")


def _classify_promotion(
    spec: CanarySpec, st: Status, obs: Observations, now: datetime
) -> tuple[Event, Facts]:
    current = st.current_revision
    image = current.image if current is not None else ""
    if st.phase is Phase.FINALISING:
        if obs.mesh_weights is None or obs.mesh_weights[1] == 0:
            return Event.FINALISED, Facts(f"promotion of {image} complete")
        return Event.WEIGHTS_PENDING, Facts("waiting for the mesh to route all traffic to the primary")
    if obs.primary.ready and obs.primary.image == image:
        return Event.PRIMARY_PROMOTED, Facts(f"primary runs {image}; routing all traffic to it")
    if st.canary_weight > 0 and not _target_ready(st, obs):
        return Event.TARGET_LOST, Facts("the target is no longer ready: all traffic goes to the primary")
    if _deadline_passed(spec, st, now):
        return Event.DEADLINE_EXCEEDED, Facts(
            f"the primary did not become ready with {image} within {spec.progress_deadline_seconds}s",
            failure=f"the primary did not become ready within {spec.progress_deadline_seconds}s",
        )
    return Event.PRIMARY_NOT_READY, Facts(f"waiting for the primary to roll out {image}")


def _deadline_passed(spec: CanarySpec, st: Status, now: datetime) -> bool:
    if st.waiting_since is None:
        return False
    return (now - st.waiting_since).total_seconds() > spec.progress_deadline_seconds


def _rollback_requested(spec: CanarySpec, obs: Observations) -> WebhookResult | None:
    if not spec.analysis.webhooks_of(WebhookType.ROLLBACK):
        return None
    for result in obs.webhook_results(WebhookType.ROLLBACK):
        if result.ok:
            return result
    return None


def _gate(spec: CanarySpec, obs: Observations, kind: WebhookType) -> bool | None:
    """True open, False closed, None when the spec has such gates but they were not called."""
    declared = spec.analysis.webhooks_of(kind)
    if not declared:
        return True
    results = {r.name: r.ok for r in obs.webhook_results(kind)}
    if any(w.name not in results for w in declared):
        return None
    return all(results[w.name] for w in declared)


def _classify_waiting(spec: CanarySpec, st: Status, obs: Observations, now: datetime) -> tuple[Event, Facts]:
    if obs.mesh_weights is not None and obs.mesh_weights[1] > 0:
        return Event.TRAFFIC_DRAINING, Facts("waiting for traffic to leave the target before it is replaced")
    current = st.current_revision
    image = current.image if current is not None else "?"
    if st.promote_requested:
        return Event.GATE_OPEN, Facts(
            f"promotion requested: starting {image} without the confirm-rollout gate"
        )
    if _plan(spec, st, now) is None:
        return Event.IDLE, Facts("waiting for the confirm-rollout gate to be asked again")
    hook = _rollback_requested(spec, obs)
    if hook is not None:
        return Event.ROLLBACK_HOOK, Facts(
            f"rollback webhook {hook.name} asked to roll back",
            failure=f"rollback webhook {hook.name} asked for it",
        )
    gate = _gate(spec, obs, WebhookType.CONFIRM_ROLLOUT)
    if gate is None:
        return Event.IDLE, Facts("waiting for the confirm-rollout gate to answer")
    if gate:
        return Event.GATE_OPEN, Facts(f"starting the canary of {image}")
    return Event.GATE_CLOSED, Facts(f"confirm-rollout gate is closed; {image} waits")


def _classify_analysis(spec: CanarySpec, st: Status, obs: Observations, now: datetime) -> tuple[Event, Facts]:
    current = st.current_revision
    image = current.image if current is not None else "?"
    skip = spec.skip_analysis or st.promote_requested
    if not _target_ready(st, obs):
        if _deadline_passed(spec, st, now):
            limit = spec.progress_deadline_seconds
            return Event.DEADLINE_EXCEEDED, Facts(
                f"the target did not become ready with {image} within {limit}s: rolling back",
                failure=f"the target was not ready within the progress deadline of {limit}s",
            )
        return Event.TARGET_NOT_READY, Facts(f"waiting for the target to be ready with {image}")
    if st.waiting_since is not None:
        if skip and st.phase is Phase.PROGRESSING:
            return Event.SKIP_ANALYSIS, Facts(f"target is ready; promoting {image} without analysis")
        return Event.TARGET_READY, Facts(f"target is ready with {image}")
    if skip:
        why = "skipAnalysis is set" if spec.skip_analysis else "promotion requested with `serinus promote`"
        return Event.SKIP_ANALYSIS, Facts(f"{why}: promoting {image} without further checks")
    plan = _plan(spec, st, now)
    if plan is None:
        return Event.IDLE, Facts(f"analysing {image}: next check not due yet")
    if plan.metrics and spec.analysis.metrics and obs.checks is None:
        return Event.IDLE, Facts("a check is due but no metric results were gathered")
    for kind in plan.webhooks:
        if kind is not WebhookType.ROLLBACK and _gate(spec, obs, kind) is None:
            return Event.IDLE, Facts(f"a check is due but the {kind} webhooks were not called")
    hook = _rollback_requested(spec, obs)
    if hook is not None:
        return Event.ROLLBACK_HOOK, Facts(
            f"rollback webhook {hook.name} asked to roll back {image}",
            failure=f"rollback webhook {hook.name} asked for it",
        )

    time = format_time(now)
    checks = tuple(obs.checks or ()) if plan.metrics else ()
    hook_kinds = [k for k in (WebhookType.PRE_ROLLOUT, WebhookType.ROLLOUT) if k in plan.webhooks]
    hooks = [r for k in hook_kinds for r in obs.webhook_results(k) if spec.analysis.webhooks_of(k)]
    records = tuple(CheckRecord.of(c, time) for c in checks) + tuple(_hook_record(h, time) for h in hooks)
    failures = [_describe_hook(h) for h in hooks if not h.ok] + [
        _describe_check(c) for c in checks if c.verdict is Verdict.FAIL
    ]
    analysis = spec.analysis
    if failures:
        count = st.failed_checks + 1
        failure = "; ".join(failures)
        if count >= analysis.threshold:
            return Event.FAILED_THRESHOLD, Facts(
                f"check failed ({count} of {analysis.threshold} allowed): {failure}; rolling back {image}",
                records=records,
                failure=failure,
            )
        return Event.CHECKS_FAILED, Facts(
            f"check failed ({count} of {analysis.threshold} allowed): {failure}; holding the weight",
            records=records,
            failure=failure,
        )
    unsure = [_describe_check(c) for c in checks if c.verdict in (Verdict.INCONCLUSIVE, Verdict.ERROR)]
    if unsure:
        count = st.inconclusive_checks + 1
        text = "; ".join(unsure)
        if count >= analysis.inconclusive_limit:
            return Event.INCONCLUSIVE_LIMIT, Facts(
                f"{count} inconclusive checks in a row ({text}): traffic returns to the primary and the run "
                "pauses until `serinus retry` or a new commit",
                records=records,
            )
        return Event.CHECKS_INCONCLUSIVE, Facts(
            f"inconclusive check {count} of {analysis.inconclusive_limit} ({text}): holding the weight, "
            "missing data is not a failure",
            records=records,
        )
    passed = "checks passed" if checks or hooks else "no checks to run"
    if plan.final:
        if _gate(spec, obs, WebhookType.CONFIRM_PROMOTION):
            return Event.PROMOTE, Facts(f"{passed} at the last step: promoting {image}", records=records)
        return Event.PROMOTION_GATE_CLOSED, Facts(
            f"{passed}; confirm-promotion gate is closed, {image} waits for promotion", records=records
        )
    if _gate(spec, obs, WebhookType.CONFIRM_TRAFFIC_INCREASE):
        return Event.STEP, Facts(f"{passed}: advancing {image}", records=records)
    return Event.GATE_CLOSED, Facts(
        f"{passed}; confirm-traffic-increase gate is closed: holding", records=records
    )


# --------------------------------------------------------------------------------------------
# Steps: small, named pieces of transitions


def _note(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    return st, []


def _mark_evaluated(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    return replace(st, last_check_time=ctx.now), []


def _record_checks(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    return st.with_checks(ctx.facts.records), []


def _count_failure(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    return replace(st, failed_checks=st.failed_checks + 1, inconclusive_checks=0), []


def _count_inconclusive(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    return replace(st, inconclusive_checks=st.inconclusive_checks + 1), []


def _passed_checks(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    counted = st.pre_rollout_done and ctx.spec.analysis.strategy is not Strategy.CANARY
    return (
        replace(
            st.with_checks(ctx.facts.records),
            inconclusive_checks=0,
            pre_rollout_done=True,
            iterations=st.iterations + 1 if counted else st.iterations,
        ),
        [],
    )


def _step(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    if ctx.spec.analysis.strategy is Strategy.CANARY:
        return replace(st, canary_weight=next_weight(ctx.spec.analysis, st.canary_weight)), []
    return st, []


def _bootstrap(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    revision = ctx.facts.revision
    if revision is None:
        return st, []
    return st, [EnsurePrimary(revision), EnsureServices()]


def _finish_bootstrap(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    revision = ctx.facts.revision
    st = replace(st, last_promoted_revision=revision, canary_weight=0)
    st = st.with_condition("Promoted", "True", "Initialized", ctx.facts.message, ctx.now)
    return st, [ScaleTarget(0)]


def _start_run(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    revision = ctx.facts.revision
    if revision is None:
        return st, []
    count = st.run_count + 1
    st = replace(
        st,
        run_count=count,
        run_id=f"{count}-{revision.commit[:12]}" if revision.commit else str(count),
        current_revision=revision,
        canary_weight=0,
        failed_checks=0,
        inconclusive_checks=0,
        iterations=0,
        checks=(),
        last_check_time=None,
        waiting_since=None,
        pre_rollout_done=False,
        promote_requested=False,
    )
    st = st.with_condition("Promoted", "Unknown", "Progressing", f"analysing {revision.describe()}", ctx.now)
    if (q := st.condition("Quarantined")) is not None and q.status == "True":
        st = st.with_condition("Quarantined", "False", "NewRevision", ctx.facts.message, ctx.now)
    return st, []


def _apply_revision(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    current = st.current_revision
    if current is None:
        return st, []
    st = replace(st, waiting_since=ctx.now, last_check_time=None, canary_weight=0)
    return st, [ApplyRevision(current, _target_replicas(ctx.obs))]


def _wait_target(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    current = st.current_revision
    st = replace(st, canary_weight=0, waiting_since=st.waiting_since or ctx.now)
    actions: list[Action] = []
    if current is not None and (ctx.obs.target.image != current.image or ctx.obs.target.replicas == 0):
        actions.append(ApplyRevision(current, _target_replicas(ctx.obs)))
    return st, actions


def _target_is_ready(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    return replace(st, waiting_since=None), []


def _route_away(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    waiting = st.waiting_since
    if st.phase in (Phase.PROGRESSING, Phase.WAITING_PROMOTION) and waiting is None:
        waiting = ctx.now
    return replace(st, canary_weight=0, waiting_since=waiting), []


def _begin_promotion(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    current = st.current_revision
    if current is None:
        return st, []
    weight = promotion_weight(ctx.spec.analysis, st.canary_weight)
    st = replace(st, canary_weight=weight, waiting_since=ctx.now, promote_requested=False)
    return st, [PromotePrimary(current)]


def _wait_primary(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    current = st.current_revision
    if current is not None and ctx.obs.primary.image != current.image:
        return st, [PromotePrimary(current)]
    return st, []


def _finalise(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    return replace(st, canary_weight=0, waiting_since=None), []


def _promoted(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    current = st.current_revision
    st = replace(st, last_promoted_revision=current or st.last_promoted_revision, canary_weight=0)
    what = current.describe() if current is not None else "the revision"
    st = st.with_condition("Promoted", "True", "Succeeded", f"{what} promoted", ctx.now)
    return st, [ScaleTarget(0), *_fire(ctx, WebhookType.POST_ROLLOUT, Phase.SUCCEEDED, f"{what} promoted")]


def _pause(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    st = replace(st, canary_weight=0)
    return st.with_condition("Promoted", "Unknown", "Paused", ctx.facts.message, ctx.now), []


def _resume(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    # A paused target may have lost readiness meanwhile: until it is ready again, route nothing to it
    # (A/B matches included) and let the progress deadline count from now (I3).
    waiting = None if _target_ready(st, ctx.obs) else ctx.now
    return replace(st, waiting_since=waiting, last_check_time=None), []


def _cancel_run(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    st = replace(st, canary_weight=0, waiting_since=None, promote_requested=False)
    st = st.with_condition("Promoted", "False", "Cancelled", ctx.facts.message, ctx.now)
    return st, [ScaleTarget(0)]


def _quarantine_revert(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    declared = ctx.facts.revision
    entry = st.quarantine_entry(ctx.facts.image)
    if declared is None or entry is None:
        return st, []
    st = replace(st, handled_commit=declared.commit)
    st = st.with_condition("Quarantined", "True", "QuarantinedImage", ctx.facts.message, ctx.now)
    promoted = st.last_promoted_revision
    if ctx.spec.rollback.git is not RollbackGit.REVERT or promoted is None:
        return st, []
    pending = PendingRevert(
        revert_id=f"{entry.run_id or 'quarantine'}/{declared.commit[:12]}",
        to_revision=promoted,
        failed_revision=declared,
        cause=RollbackCause.QUARANTINE,
        reason=f"{declared.image} is quarantined: run {entry.run_id or '?'} failed it ({entry.reason})",
    )
    return replace(st, pending_revert=pending), [_push(pending)]


def _lift_quarantine(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    image = ctx.facts.image
    pending = st.pending_revert
    if pending is not None and pending.failed_revision.image == image:
        pending = None
    st = replace(st, quarantine=tuple(q for q in st.quarantine if q.image != image), pending_revert=pending)
    st = st.with_condition("Quarantined", "False", "RetryRequested", ctx.facts.message, ctx.now)
    return st, []


def _push(pending: PendingRevert) -> PushRevert:
    return PushRevert(
        revert_id=pending.revert_id,
        to_revision=pending.to_revision,
        failed_revision=pending.failed_revision,
        cause=pending.cause,
        reason=pending.reason,
    )


def _fire(ctx: Context, kind: WebhookType, phase: Phase, message: str) -> list[Action]:
    if not ctx.spec.analysis.webhooks_of(kind):
        return []
    return [CallWebhooks(kind, phase, message)]


def _rollback(cause: RollbackCause) -> Step:
    """Route all traffic to the primary, scale the target to 0, quarantine the image, revert Git."""

    def step(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
        failed = st.current_revision
        if failed is None:
            return st, []
        reason = ctx.facts.failure or ctx.facts.message
        entry = QuarantineEntry(image=failed.image, run_id=st.run_id, commit=failed.commit, reason=reason)
        quarantine = (*(q for q in st.quarantine if q.image != failed.image), entry)
        st = replace(st, canary_weight=0, waiting_since=None, promote_requested=False, quarantine=quarantine)
        message = f"{failed.describe()} rolled back: {reason}"
        st = st.with_condition("Promoted", "False", "Failed", message, ctx.now)
        actions: list[Action] = [ScaleTarget(0)]
        promoted = st.last_promoted_revision
        if (
            ctx.spec.rollback.git is RollbackGit.REVERT
            and promoted is not None
            and promoted.image != failed.image
        ):
            pending = PendingRevert(st.run_id, promoted, failed, cause, reason)
            st = replace(st, pending_revert=pending)
            actions.append(_push(pending))
        actions += _fire(ctx, WebhookType.POST_ROLLOUT, Phase.FAILED, message)
        return st, actions

    step.__name__ = f"_rollback[{cause}]"
    return step


def _restore_primary(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    promoted = st.last_promoted_revision
    return st, ([EnsurePrimary(promoted)] if promoted is not None else [])


def _begin_termination(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    promoted = st.last_promoted_revision
    st = replace(st, canary_weight=0)
    if not ctx.spec.revert_on_deletion or promoted is None:
        return st, []
    if ctx.obs.target.image == promoted.image and ctx.obs.target.replicas > 0:
        return st, []
    return st, [ApplyRevision(promoted, _target_replicas(ctx.obs))]


def _finalize(ctx: Context, st: Status) -> tuple[Status, list[Action]]:
    restore = ctx.spec.revert_on_deletion and st.last_promoted_revision is not None
    return st, [Finalize(restore_target=restore)]


# --------------------------------------------------------------------------------------------
# The table


ALL_PHASES: tuple[Phase, ...] = tuple(Phase)
_LIVE = tuple(p for p in Phase if p not in (Phase.TERMINATING, Phase.TERMINATED))
_RUN = tuple(sorted(RUN_PHASES))
_REST = tuple(sorted(REST_PHASES))
_ANALYSING = (Phase.PROGRESSING, Phase.WAITING_PROMOTION)

_CHECKED = (_mark_evaluated,)


def _same(
    phases: Iterable[Phase], event: Event, steps: tuple[Step, ...], **kw: bool
) -> dict[tuple[Phase, Event], Transition]:
    return {(p, event): Transition(p, steps, **kw) for p in phases}


def _to(
    phases: Iterable[Phase], event: Event, target: Phase, steps: tuple[Step, ...], **kw: bool
) -> dict[tuple[Phase, Event], Transition]:
    return {(p, event): Transition(target, steps, **kw) for p in phases}


TRANSITIONS: Mapping[tuple[Phase, Event], Transition] = {
    # Suspension and deletion apply in every phase.
    **_same(_LIVE, Event.SUSPENDED, (_note,), quiet=True),
    **_same(
        (Phase.PROGRESSING, Phase.WAITING_PROMOTION, Phase.PROMOTING),
        Event.SUSPENDED_TARGET_LOST,
        (_route_away,),
        warning=True,
    ),
    **_to(_LIVE, Event.DELETION_REQUESTED, Phase.TERMINATING, (_begin_termination,)),
    (Phase.TERMINATING, Event.TERMINATION_WAIT): Transition(
        Phase.TERMINATING, (_begin_termination,), quiet=True
    ),
    (Phase.TERMINATING, Event.TERMINATION_DONE): Transition(Phase.TERMINATED, (_finalize,)),
    (Phase.TERMINATED, Event.TERMINATION_DONE): Transition(Phase.TERMINATED, (_finalize,), quiet=True),
    # 1. Bootstrap.
    (Phase.INITIALIZING, Event.NO_SOURCE): Transition(Phase.INITIALIZING, (), warning=True, quiet=True),
    (Phase.INITIALIZING, Event.BOOTSTRAP): Transition(Phase.INITIALIZING, (_bootstrap,), quiet=True),
    (Phase.INITIALIZING, Event.PRIMARY_READY): Transition(Phase.INITIALIZED, (_finish_bootstrap,)),
    # 2. Detect: new revisions, the promoted image declared again, quarantined images.
    **_to(_RUN + _REST, Event.NEW_REVISION, Phase.WAITING, (_start_run,)),
    **_to(_RUN, Event.PROMOTED_REDECLARED, Phase.INITIALIZED, (_cancel_run,)),
    **_same(_REST, Event.QUARANTINED_REVISION, (_quarantine_revert,), warning=True),
    **_to(
        _RUN, Event.QUARANTINED_REVISION, Phase.INITIALIZED, (_cancel_run, _quarantine_revert), warning=True
    ),
    # Manual controls.
    **_to(_RUN + _REST, Event.RETRY, Phase.WAITING, (_lift_quarantine, _start_run)),
    (Phase.FAILED, Event.RETRY_UNDECLARED): Transition(Phase.FAILED, (_lift_quarantine,)),
    **_to(_RUN, Event.MANUAL_ABORT, Phase.FAILED, (_rollback(RollbackCause.MANUAL_ABORT),), warning=True),
    (Phase.PAUSED, Event.PROMOTE_REQUESTED): Transition(Phase.PROGRESSING, (_resume,)),
    # 3. Start: confirm-rollout gate, apply the revision, wait for the target.
    (Phase.WAITING, Event.TRAFFIC_DRAINING): Transition(Phase.WAITING, (), quiet=True),
    (Phase.WAITING, Event.GATE_CLOSED): Transition(Phase.WAITING, _CHECKED),
    (Phase.WAITING, Event.GATE_OPEN): Transition(Phase.PROGRESSING, (_apply_revision,)),
    **_to(
        (Phase.WAITING, *_ANALYSING),
        Event.ROLLBACK_HOOK,
        Phase.FAILED,
        (_rollback(RollbackCause.ROLLBACK_WEBHOOK),),
        warning=True,
    ),
    (Phase.PROGRESSING, Event.TARGET_NOT_READY): Transition(Phase.PROGRESSING, (_wait_target,), quiet=True),
    (Phase.WAITING_PROMOTION, Event.TARGET_NOT_READY): Transition(
        Phase.PROGRESSING, (_wait_target,), warning=True
    ),
    (Phase.PROGRESSING, Event.TARGET_READY): Transition(Phase.PROGRESSING, (_target_is_ready,)),
    (Phase.WAITING_PROMOTION, Event.TARGET_READY): Transition(Phase.PROGRESSING, (_target_is_ready,)),
    **_to(
        _ANALYSING,
        Event.DEADLINE_EXCEEDED,
        Phase.FAILED,
        (_rollback(RollbackCause.PROGRESS_DEADLINE),),
        warning=True,
    ),
    # 4. Step.
    **_to(_ANALYSING, Event.SKIP_ANALYSIS, Phase.PROMOTING, (_begin_promotion,)),
    **_same(_ANALYSING, Event.CHECKS_FAILED, (*_CHECKED, _record_checks, _count_failure), warning=True),
    **_to(
        _ANALYSING,
        Event.FAILED_THRESHOLD,
        Phase.FAILED,
        (*_CHECKED, _record_checks, _count_failure, _rollback(RollbackCause.FAILED_CHECKS)),
        warning=True,
    ),
    **_same(
        _ANALYSING, Event.CHECKS_INCONCLUSIVE, (*_CHECKED, _record_checks, _count_inconclusive), warning=True
    ),
    **_to(
        _ANALYSING,
        Event.INCONCLUSIVE_LIMIT,
        Phase.PAUSED,
        (*_CHECKED, _record_checks, _count_inconclusive, _pause),
        warning=True,
    ),
    (Phase.PROGRESSING, Event.GATE_CLOSED): Transition(Phase.PROGRESSING, (*_CHECKED, _passed_checks)),
    (Phase.PROGRESSING, Event.STEP): Transition(Phase.PROGRESSING, (*_CHECKED, _passed_checks, _step)),
    # 5. Promote.
    **_to(_ANALYSING, Event.PROMOTION_GATE_CLOSED, Phase.WAITING_PROMOTION, (*_CHECKED, _passed_checks)),
    **_to(_ANALYSING, Event.PROMOTE, Phase.PROMOTING, (*_CHECKED, _passed_checks, _begin_promotion)),
    (Phase.PROMOTING, Event.TARGET_LOST): Transition(Phase.PROMOTING, (_route_away,), warning=True),
    (Phase.PROMOTING, Event.PRIMARY_NOT_READY): Transition(Phase.PROMOTING, (_wait_primary,), quiet=True),
    (Phase.PROMOTING, Event.DEADLINE_EXCEEDED): Transition(
        Phase.FAILED, (_restore_primary, _rollback(RollbackCause.PROGRESS_DEADLINE)), warning=True
    ),
    (Phase.PROMOTING, Event.PRIMARY_PROMOTED): Transition(Phase.FINALISING, (_finalise,)),
    (Phase.FINALISING, Event.WEIGHTS_PENDING): Transition(Phase.FINALISING, (), quiet=True),
    (Phase.FINALISING, Event.FINALISED): Transition(Phase.SUCCEEDED, (_promoted,)),
}
"""The machine: ``(phase, event) -> Transition``. Combinations not listed change nothing."""


# --------------------------------------------------------------------------------------------
# Manual controls and revert bookkeeping, then the decision


def _consume_manual(
    spec: CanarySpec, st: Status, obs: Observations
) -> tuple[Status, ManualAction | None, list[Action]]:
    """Consume new manual tokens; returns the status, the abort/retry to act on, and notes."""
    tokens = dict(st.manual_tokens)
    fresh = [m for m in obs.manual if m.token and tokens.get(m.action.value) != m.token]
    suspended = st.suspended
    notes: list[Action] = []
    # Tokens are the CLI's timestamps: when both suspend and resume are new, the later one wins.
    for request in sorted(fresh, key=lambda m: m.token):
        if request.action in (ManualAction.SUSPEND, ManualAction.RESUME):
            tokens[request.action.value] = request.token
            suspended = request.action is ManualAction.SUSPEND
            word = "suspended" if suspended else "resumed"
            notes.append(EmitEvent("Normal", f"Manual{request.action.value.title()}", f"{word} by a person"))
    st = replace(st, suspended=suspended, manual_tokens=tokens)
    if spec.suspend or suspended or obs.deleting:
        return st, None, notes  # other controls wait until the Canary is resumed
    chosen: ManualAction | None = None
    promote = st.promote_requested
    # Tokens are the CLI's timestamps: when both suspend and resume are new, the later one wins.
    for request in sorted(fresh, key=lambda m: m.token):
        if request.action in (ManualAction.SUSPEND, ManualAction.RESUME):
            continue
        tokens[request.action.value] = request.token
        if request.action is ManualAction.PROMOTE:
            if st.phase in RUN_PHASES:
                promote = True
            else:
                notes.append(
                    EmitEvent("Normal", "ManualPromoteIgnored", f"no run to promote in phase {st.phase}")
                )
        elif request.action is ManualAction.ABORT and st.phase not in RUN_PHASES:
            notes.append(EmitEvent("Normal", "ManualAbortIgnored", f"no run to abort in phase {st.phase}"))
        elif chosen is None or request.action is ManualAction.ABORT:
            chosen = request.action
    return replace(st, promote_requested=promote, manual_tokens=tokens), chosen, notes


def _revert_bookkeeping(st: Status, obs: Observations) -> tuple[Status, list[Action]]:
    """Confirm the pending revert from the observed outcome, or ask for it again (never once confirmed)."""
    pending = st.pending_revert
    if pending is None:
        return st, []
    outcome = obs.revert
    if outcome is not None and outcome.revert_id == pending.revert_id:
        if outcome.commit:
            message = f"Git reverted to {pending.to_revision.image} in commit {outcome.commit[:7]}"
        else:
            message = f"no revert needed: Git no longer declares {pending.failed_revision.image}"
        st = replace(st, pending_revert=None, revert_commit=outcome.commit or st.revert_commit)
        return st, [EmitEvent("Normal", "RevertPushed" if outcome.commit else "RevertSuperseded", message)]
    return st, [_push(pending)]


def _emit(spec: CanarySpec, phase: Phase, kind: str, reason: str, message: str) -> list[Action]:
    actions: list[Action] = [EmitEvent(kind, reason, message)]
    if spec.analysis.webhooks_of(WebhookType.EVENT):
        actions.append(CallWebhooks(WebhookType.EVENT, phase, message, event_type=kind))
    return actions


def decide(spec: CanarySpec, status: Status, observations: Observations, now: datetime) -> Decision:
    """Decide one tick: the next status, the actions to apply in order, and the reason in words."""
    obs = observations
    st, manual, notes = _consume_manual(spec, status, obs)
    suspended = spec.suspend or st.suspended
    revert_actions: list[Action] = []
    if not suspended and not obs.deleting:
        st, revert_actions = _revert_bookkeeping(st, obs)

    event, facts = classify(spec, st, obs, now, manual)
    row = TRANSITIONS.get((st.phase, event))
    ctx = Context(spec, obs, now, facts)
    actions: list[Action] = []
    before = st
    reason = facts.message
    if row is None:
        if event is not Event.IDLE:
            reason = f"{event} is not expected in phase {st.phase}; ignored ({facts.message})"
    else:
        st = replace(st, phase=row.next_phase)
        for step in row.steps:
            st, more = step(ctx, st)
            actions += more
        if row.next_phase is not before.phase:
            st = replace(st, last_transition_time=now)
        if not row.quiet or row.next_phase is not before.phase:
            kind = "Warning" if row.warning else "Normal"
            actions += _emit(spec, st.phase, kind, event.value, facts.message)

    if suspended:
        st = st.with_condition("Suspended", "True", "Suspended", facts.message, now)
    elif (cond := st.condition("Suspended")) is not None and cond.status == "True":
        st = st.with_condition("Suspended", "False", "Resumed", "resumed", now)

    st, source_events = _source_condition(st, obs, now)
    actions = _routing(spec, before, st, obs) + actions + source_events
    if not suspended:
        actions += _rest_drift(st, obs, actions)
    if st.pending_revert is None or not any(
        isinstance(a, PushRevert) and a.revert_id == st.pending_revert.revert_id for a in revert_actions
    ):
        revert_actions = [a for a in revert_actions if not isinstance(a, PushRevert)]  # superseded this tick
    return Decision(st, tuple(notes + actions + revert_actions), reason, event)


def _source_condition(st: Status, obs: Observations, now: datetime) -> tuple[Status, list[Action]]:
    """Condition ``SourceReady``: whether Git could be read, with the reason when not.

    An unreadable source changes nothing else (it is "no news"), but it must be visible on the
    Canary; the event is emitted only when the condition flips or its message changes.
    """
    old = st.condition("SourceReady")
    if obs.git_error:
        message = f"Git could not be read: {obs.git_error}"
        if old is not None and old.status == "False" and old.message == message:
            return st, []
        st = st.with_condition("SourceReady", "False", "SourceUnreadable", message, now)
        return st, [EmitEvent("Warning", "SourceUnreadable", message)]
    if obs.declared is not None and old is not None and old.status != "True":  # set only once it failed
        message = f"Git declares {obs.declared.describe()}"
        st = st.with_condition("SourceReady", "True", "SourceRead", message, now)
        return st, [EmitEvent("Normal", "SourceRead", message)]
    return st, []


def _routing(spec: CanarySpec, before: Status, after: Status, obs: Observations) -> list[Action]:
    """A SetWeights first when the desired routing changed or the mesh reads back other weights."""
    if after.phase in (Phase.INITIALIZING, Phase.TERMINATING, Phase.TERMINATED):
        return []
    desired = _routes(spec, after)
    drifted = obs.mesh_weights is not None and obs.mesh_weights != (desired.primary, desired.canary)
    if drifted or desired != _routes(spec, before):
        return [desired]
    return []


def _rest_drift(st: Status, obs: Observations, planned: list[Action]) -> list[Action]:
    """At rest the target is scaled to 0 and the primary runs the promoted image; repair if not."""
    if st.phase not in REST_PHASES:
        return []
    out: list[Action] = []
    promoted = st.last_promoted_revision
    if (
        promoted is not None
        and not any(isinstance(a, EnsurePrimary) for a in planned)
        and (not obs.primary.exists or obs.primary.image != promoted.image)
    ):
        out.append(EnsurePrimary(promoted))
    if obs.target.replicas > 0 and not any(isinstance(a, ScaleTarget) for a in planned):
        out.append(ScaleTarget(0))
    return out


def table_rows() -> list[tuple[Phase, Event, Transition]]:
    """The table as a list, for documentation and tests."""
    return [(phase, event, row) for (phase, event), row in TRANSITIONS.items()]


def describe_table() -> str:
    """The table in words, one row per line (``Phase --Event--> Phase: steps``)."""
    lines = []
    for phase, event, row in table_rows():
        steps = ", ".join(getattr(s, "__name__", "step").lstrip("_") for s in row.steps) or "-"
        lines.append(f"{phase} --{event}--> {row.next_phase}: {steps}")
    return "\n".join(lines)
