"""The Canary's status: the only memory of a run (invariant I2), typed and round-tripped to the CRD dict.

``Status.from_dict(Status.to_dict())`` is exact, so a controller that restarts from the persisted
status makes the same next decision. Besides the fields people read (``phase``, ``canaryWeight``,
``conditions``, ``checks``...), the status holds the bookkeeping a restart needs: the run's id, the
time of the last check, when a wait for readiness began, the revert push still to be confirmed, and
the manual-control tokens already consumed.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from analysis.verdict import CheckResult, Range, Verdict

CHECKS_KEPT_PER_METRIC = 10


class Phase(enum.StrEnum):
    """The phases of a Canary, named as in Flagger."""

    INITIALIZING = "Initializing"
    INITIALIZED = "Initialized"
    WAITING = "Waiting"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    WAITING_PROMOTION = "WaitingPromotion"
    PROMOTING = "Promoting"
    FINALISING = "Finalising"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"


RUN_PHASES: frozenset[Phase] = frozenset(
    {Phase.WAITING, Phase.PROGRESSING, Phase.WAITING_PROMOTION, Phase.PAUSED}
)
"""Phases of a run that a new commit, ``abort`` or ``retry`` can interrupt."""

PROMOTION_PHASES: frozenset[Phase] = frozenset({Phase.PROMOTING, Phase.FINALISING})
"""Phases that always run to completion once entered (no double or half promotion)."""

REST_PHASES: frozenset[Phase] = frozenset({Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED})
"""Phases with no run under way: Git and the primary are expected to agree (I1)."""


class RollbackCause(enum.StrEnum):
    """Why a revert is pushed to Git; only these may cause one (invariant I5)."""

    FAILED_CHECKS = "failed-checks"  # FAIL verdicts or failing rollout hooks reached the threshold
    PROGRESS_DEADLINE = "progress-deadline"
    ROLLBACK_WEBHOOK = "rollback-webhook"
    MANUAL_ABORT = "manual-abort"
    QUARANTINE = "quarantine"  # Git declared again an image a run above had failed


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC, keeping microseconds when present so that round trips are exact."""
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Inverse of ``format_time`` (also accepts ``+00:00`` offsets)."""
    raw = text.strip()
    if raw.endswith("Z"):
        raw = raw[:-1] + "+00:00"
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _opt_time(value: object) -> datetime | None:
    return parse_time(value) if isinstance(value, str) and value else None


def _str(value: object, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _bool(value: object) -> bool:
    return value if isinstance(value, bool) else False


@dataclass(frozen=True)
class Revision:
    """A Git commit and the image it declares for the target."""

    commit: str
    image: str

    def to_dict(self) -> dict[str, str]:
        """``{commit, image}``."""
        return {"commit": self.commit, "image": self.image}

    @staticmethod
    def from_dict(raw: object) -> Revision | None:
        """Parse ``{commit, image}``; None when absent or without an image."""
        if not isinstance(raw, Mapping) or not _str(raw.get("image")):
            return None
        return Revision(commit=_str(raw.get("commit")), image=_str(raw.get("image")))

    def describe(self) -> str:
        """``image (commit abc1234)`` for messages."""
        return f"{self.image} (commit {self.commit[:7]})" if self.commit else self.image


@dataclass(frozen=True)
class Condition:
    """A Kubernetes-style condition (``Promoted``, ``Quarantined``, ``Suspended``)."""

    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str = ""
    last_transition_time: str = ""

    def to_dict(self) -> dict[str, str]:
        """The CRD form."""
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": self.last_transition_time,
        }

    @staticmethod
    def from_dict(raw: Mapping[str, object]) -> Condition:
        """Parse the CRD form."""
        return Condition(
            type=_str(raw.get("type")),
            status=_str(raw.get("status"), "Unknown"),
            reason=_str(raw.get("reason")),
            message=_str(raw.get("message")),
            last_transition_time=_str(raw.get("lastTransitionTime")),
        )


@dataclass(frozen=True)
class CheckRecord:
    """One entry of ``status.checks``: a metric (or rollout hook) result at one step."""

    time: str
    metric: str
    verdict: Verdict
    value: float | None = None
    range: Range = field(default_factory=Range)
    query: str = ""
    message: str = ""

    @staticmethod
    def of(result: CheckResult, time: str) -> CheckRecord:
        """Record a ``CheckResult`` observed at ``time``."""
        return CheckRecord(
            time=time,
            metric=result.metric,
            verdict=result.verdict,
            value=result.value,
            range=result.range,
            query=result.query,
            message=result.message,
        )

    def to_dict(self) -> dict[str, object]:
        """The CRD form (the same as ``CheckResult.to_status``)."""
        result = CheckResult(self.metric, self.verdict, self.value, self.range, self.query, self.message)
        return result.to_status(self.time)

    @staticmethod
    def from_dict(raw: Mapping[str, object]) -> CheckRecord:
        """Parse the CRD form; an unknown verdict reads as ERROR."""
        rng = raw.get("range")
        lo = rng.get("min") if isinstance(rng, Mapping) else None
        hi = rng.get("max") if isinstance(rng, Mapping) else None
        value = raw.get("value")
        try:
            verdict = Verdict(_str(raw.get("verdict")))
        except ValueError:
            verdict = Verdict.ERROR
        return CheckRecord(
            time=_str(raw.get("time")),
            metric=_str(raw.get("metric")),
            verdict=verdict,
            value=float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None,
            range=Range(
                min=float(lo) if isinstance(lo, int | float) else None,
                max=float(hi) if isinstance(hi, int | float) else None,
            ),
            query=_str(raw.get("query")),
            message=_str(raw.get("message")),
        )


@dataclass(frozen=True)
class QuarantineEntry:
    """An image a run failed; Git declaring it again is reverted at once (section 6)."""

    image: str
    run_id: str
    commit: str  # the commit of the failed run (re-reading it is not a new declaration)
    reason: str = ""

    def to_dict(self) -> dict[str, str]:
        """The CRD form."""
        return {"image": self.image, "runId": self.run_id, "commit": self.commit, "reason": self.reason}

    @staticmethod
    def from_dict(raw: Mapping[str, object]) -> QuarantineEntry:
        """Parse the CRD form."""
        return QuarantineEntry(
            image=_str(raw.get("image")),
            run_id=_str(raw.get("runId")),
            commit=_str(raw.get("commit")),
            reason=_str(raw.get("reason")),
        )


@dataclass(frozen=True)
class PendingRevert:
    """A revert commit decided but not yet confirmed written; re-issued every tick until it is."""

    revert_id: str
    to_revision: Revision
    failed_revision: Revision
    cause: RollbackCause
    reason: str

    def to_dict(self) -> dict[str, object]:
        """The CRD form."""
        return {
            "revertId": self.revert_id,
            "toRevision": self.to_revision.to_dict(),
            "failedRevision": self.failed_revision.to_dict(),
            "cause": self.cause.value,
            "reason": self.reason,
        }

    @staticmethod
    def from_dict(raw: object) -> PendingRevert | None:
        """Parse the CRD form; None when absent or incomplete."""
        if not isinstance(raw, Mapping):
            return None
        to_rev = Revision.from_dict(raw.get("toRevision"))
        failed = Revision.from_dict(raw.get("failedRevision"))
        revert_id = _str(raw.get("revertId"))
        if to_rev is None or failed is None or not revert_id:
            return None
        try:
            cause = RollbackCause(_str(raw.get("cause")))
        except ValueError:
            cause = RollbackCause.FAILED_CHECKS
        return PendingRevert(revert_id, to_rev, failed, cause, _str(raw.get("reason")))


@dataclass(frozen=True)
class Status:
    """The whole status of a Canary. Defaults describe a Canary never seen before."""

    phase: Phase = Phase.INITIALIZING
    canary_weight: int = 0
    failed_checks: int = 0
    inconclusive_checks: int = 0
    iterations: int = 0
    current_revision: Revision | None = None
    last_promoted_revision: Revision | None = None
    revert_commit: str = ""
    quarantine: tuple[QuarantineEntry, ...] = ()
    last_transition_time: datetime | None = None
    conditions: tuple[Condition, ...] = ()
    checks: tuple[CheckRecord, ...] = ()
    # Bookkeeping for restarts (I2): nothing a run needs lives anywhere else.
    run_id: str = ""
    run_count: int = 0
    last_check_time: datetime | None = None  # last evaluation (checks or a gate) of this run
    waiting_since: datetime | None = None  # start of the current wait for the target/primary to be ready
    pre_rollout_done: bool = False
    promote_requested: bool = False  # a manual `promote`: skip the remaining steps of this run
    suspended: bool = False  # a manual `suspend` (spec.suspend is the declarative one)
    pending_revert: PendingRevert | None = None
    handled_commit: str = ""  # last re-declaration of a quarantined image already acted upon
    manual_tokens: Mapping[str, str] = field(default_factory=dict)

    @property
    def quarantined_images(self) -> tuple[str, ...]:
        """The images runs have failed, most recent last."""
        return tuple(entry.image for entry in self.quarantine)

    def quarantine_entry(self, image: str) -> QuarantineEntry | None:
        """The quarantine entry of ``image``, if it is quarantined."""
        for entry in self.quarantine:
            if entry.image == image:
                return entry
        return None

    def condition(self, kind: str) -> Condition | None:
        """The condition of type ``kind``, if set."""
        for cond in self.conditions:
            if cond.type == kind:
                return cond
        return None

    def with_condition(self, kind: str, status: str, reason: str, message: str, now: datetime) -> Status:
        """Set a condition; its transition time changes only when its status does."""
        old = self.condition(kind)
        when = format_time(now)
        if old is not None and old.status == status:
            when = old.last_transition_time
        cond = Condition(kind, status, reason, message, when)
        others = tuple(c for c in self.conditions if c.type != kind)
        return dataclasses.replace(self, conditions=tuple(sorted((*others, cond), key=lambda c: c.type)))

    def with_checks(self, records: Sequence[CheckRecord]) -> Status:
        """Append check records, keeping the last ten per metric."""
        merged = [*self.checks, *records]
        counts: dict[str, int] = {}
        kept: list[CheckRecord] = []
        for record in reversed(merged):
            counts[record.metric] = counts.get(record.metric, 0) + 1
            if counts[record.metric] <= CHECKS_KEPT_PER_METRIC:
                kept.append(record)
        return dataclasses.replace(self, checks=tuple(reversed(kept)))

    def to_dict(self) -> dict[str, object]:
        """The CRD ``status`` dict (camelCase), including the restart bookkeeping."""
        out: dict[str, object] = {
            "phase": self.phase.value,
            "canaryWeight": self.canary_weight,
            "failedChecks": self.failed_checks,
            "inconclusiveChecks": self.inconclusive_checks,
            "iterations": self.iterations,
            "revertCommit": self.revert_commit,
            "quarantinedImages": list(self.quarantined_images),
            "quarantine": [entry.to_dict() for entry in self.quarantine],
            "conditions": [cond.to_dict() for cond in self.conditions],
            "checks": [record.to_dict() for record in self.checks],
            "runId": self.run_id,
            "runCount": self.run_count,
            "preRolloutDone": self.pre_rollout_done,
            "promoteRequested": self.promote_requested,
            "suspended": self.suspended,
            "handledCommit": self.handled_commit,
            "manualTokens": dict(sorted(self.manual_tokens.items())),
        }
        if self.current_revision is not None:
            out["currentRevision"] = self.current_revision.to_dict()
        if self.last_promoted_revision is not None:
            out["lastPromotedRevision"] = self.last_promoted_revision.to_dict()
        if self.last_transition_time is not None:
            out["lastTransitionTime"] = format_time(self.last_transition_time)
        if self.last_check_time is not None:
            out["lastCheckTime"] = format_time(self.last_check_time)
        if self.waiting_since is not None:
            out["waitingSince"] = format_time(self.waiting_since)
        if self.pending_revert is not None:
            out["pendingRevert"] = self.pending_revert.to_dict()
        return out

    @staticmethod
    def from_dict(raw: Mapping[str, object] | None) -> Status:
        """Parse a CRD ``status`` (None or ``{}`` = never seen). Unknown phases read as Initializing."""
        if not raw:
            return Status()
        try:
            phase = Phase(_str(raw.get("phase"), Phase.INITIALIZING.value) or Phase.INITIALIZING.value)
        except ValueError:
            phase = Phase.INITIALIZING
        quarantine: tuple[QuarantineEntry, ...]
        detailed = raw.get("quarantine")
        if isinstance(detailed, list):
            quarantine = tuple(QuarantineEntry.from_dict(e) for e in detailed if isinstance(e, Mapping))
        else:
            images = raw.get("quarantinedImages")
            quarantine = tuple(
                QuarantineEntry(image=i, run_id="", commit="")
                for i in (images if isinstance(images, list) else [])
                if isinstance(i, str)
            )
        conditions = raw.get("conditions")
        checks = raw.get("checks")
        tokens = raw.get("manualTokens")
        return Status(
            phase=phase,
            canary_weight=_int(raw.get("canaryWeight")),
            failed_checks=_int(raw.get("failedChecks")),
            inconclusive_checks=_int(raw.get("inconclusiveChecks")),
            iterations=_int(raw.get("iterations")),
            current_revision=Revision.from_dict(raw.get("currentRevision")),
            last_promoted_revision=Revision.from_dict(raw.get("lastPromotedRevision")),
            revert_commit=_str(raw.get("revertCommit")),
            quarantine=quarantine,
            last_transition_time=_opt_time(raw.get("lastTransitionTime")),
            conditions=tuple(
                Condition.from_dict(c)
                for c in (conditions if isinstance(conditions, list) else [])
                if isinstance(c, Mapping)
            ),
            checks=tuple(
                CheckRecord.from_dict(c)
                for c in (checks if isinstance(checks, list) else [])
                if isinstance(c, Mapping)
            ),
            run_id=_str(raw.get("runId")),
            run_count=_int(raw.get("runCount")),
            last_check_time=_opt_time(raw.get("lastCheckTime")),
            waiting_since=_opt_time(raw.get("waitingSince")),
            pre_rollout_done=_bool(raw.get("preRolloutDone")),
            promote_requested=_bool(raw.get("promoteRequested")),
            suspended=_bool(raw.get("suspended")),
            pending_revert=PendingRevert.from_dict(raw.get("pendingRevert")),
            handled_commit=_str(raw.get("handledCommit")),
            manual_tokens={
                str(k): v
                for k, v in (tokens.items() if isinstance(tokens, Mapping) else [])
                if isinstance(v, str)
            },
        )
