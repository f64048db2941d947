"""A simulated world for driving the pure core tick by tick: Git, the two Deployments and the mesh.

It plays the imperative shell (``needs -> observe -> decide -> apply -> write status``) with the
adapters' documented contracts: revert pushes are idempotent per ``revert_id`` and are skipped when
the branch tip no longer declares the failed image; a Deployment becomes ready one tick after its
template changes unless it is broken. Status only ever travels as a dict, as it does through the
API server, so every tick is also a restart test.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from analysis.verdict import CheckResult, Verdict
from controller.core.actions import (
    Action,
    ApplyRevision,
    EnsurePrimary,
    Finalize,
    PromotePrimary,
    PushRevert,
    ScaleTarget,
    SetWeights,
)
from controller.core.decide import Decision, decide, needs
from controller.core.observations import (
    ManualAction,
    ManualRequest,
    Observations,
    RevertOutcome,
    WebhookResult,
    WorkloadState,
)
from controller.core.spec import CanarySpec, WebhookType, parse_canary
from controller.core.status import Revision, Status

START = datetime(2026, 1, 1, tzinfo=UTC)


def canary_body(analysis: Mapping[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    """A valid Canary body; ``analysis`` replaces the analysis block, ``spec`` overrides top fields."""
    body: dict[str, Any] = {
        "apiVersion": "serinus.dev/v1alpha1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "shop"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "source": {
                "git": {
                    "url": "https://git.example.com/fleet.git",
                    "branch": "main",
                    "path": "apps/podinfo/deployment.yaml",
                }
            },
            "provider": "gatewayapi",
            "service": {"port": 9898, "gatewayRefs": [{"name": "public", "namespace": "gateway"}]},
            "analysis": {
                "interval": "10s",
                "threshold": 3,
                "stepWeight": 20,
                "maxWeight": 60,
                "inconclusiveLimit": 3,
                "metrics": [
                    {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"}
                ],
            },
            "progressDeadlineSeconds": 60,
        },
    }
    if analysis is not None:
        body["spec"]["analysis"] = dict(analysis)
    body["spec"].update(spec)
    return body


def make_spec(analysis: Mapping[str, Any] | None = None, **spec: Any) -> CanarySpec:
    """Parse ``canary_body(...)``."""
    return parse_canary(canary_body(analysis, **spec))


@dataclass
class Deployment:
    """A simulated Deployment: template image, replicas, readiness."""

    image: str = ""
    replicas: int = 0
    exists: bool = False
    changed_at: int = -1  # tick of the last template or scale change
    broken: bool = False

    def state(self, tick: int) -> WorkloadState:
        ready = self.exists and self.replicas > 0 and not self.broken and tick > self.changed_at
        return WorkloadState(
            exists=self.exists,
            image=self.image,
            replicas=self.replicas,
            ready_replicas=self.replicas if ready else 0,
            ready=ready,
        )


@dataclass
class World:
    """Git + Deployments + mesh + the shell loop around ``decide``."""

    spec: CanarySpec
    now: datetime = START
    tick_seconds: float = 10.0
    commits: list[Revision] = field(default_factory=list)
    target: Deployment = field(default_factory=Deployment)
    primary: Deployment = field(default_factory=lambda: Deployment(replicas=2))
    mesh: tuple[int, int] = (100, 0)
    mesh_match: bool = False
    status: dict[str, object] = field(default_factory=dict)
    verdict: Callable[[int], Verdict] = lambda _tick: Verdict.PASS
    hooks: dict[WebhookType, bool] = field(default_factory=dict)
    manual: dict[ManualAction, str] = field(default_factory=dict)
    last_revert: RevertOutcome | None = None
    reverts_written: dict[str, str] = field(default_factory=dict)
    confirmed_reverts: set[str] = field(default_factory=set)
    ticks: int = 0
    deleting: bool = False
    git_broken: bool = False
    decisions: list[Decision] = field(default_factory=list)
    observations: list[Observations] = field(default_factory=list)
    metric_queries: int = 0
    webhook_calls: list[WebhookType] = field(default_factory=list)
    finalized: bool = False
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    # -- the world changing ------------------------------------------------------------------
    def commit(self, image: str) -> Revision:
        """Push a commit declaring ``image``."""
        rev = Revision(commit=f"c{next(self._seq):04d}{image.replace(':', '').replace('/', '')}", image=image)
        self.commits.append(rev)
        return rev

    def request(self, action: ManualAction) -> None:
        """Set a manual-control annotation with a fresh token."""
        self.manual[action] = f"t{next(self._seq):06d}"

    @property
    def declared(self) -> Revision | None:
        """What the branch tip declares."""
        return self.commits[-1] if self.commits else None

    # -- the shell ---------------------------------------------------------------------------
    def observe(self, spec: CanarySpec, status: Status) -> Observations:
        """Gather what ``needs`` asks for, plus the cheap reads."""
        wanted = needs(spec, status, self.now)
        checks: tuple[CheckResult, ...] | None = None
        if wanted.metrics:
            self.metric_queries += 1
            verdict = self.verdict(self.ticks)
            checks = tuple(
                CheckResult(
                    metric=m.name,
                    verdict=verdict,
                    value=None
                    if verdict in (Verdict.INCONCLUSIVE, Verdict.ERROR)
                    else (100.0 if verdict is Verdict.PASS else 90.0),
                    range=m.threshold_range,
                    query=f"q({m.name})",
                )
                for m in spec.analysis.metrics
            )
        results: list[WebhookResult] = []
        for kind in wanted.webhooks:
            self.webhook_calls.append(kind)
            default = kind is not WebhookType.ROLLBACK
            for hook in spec.analysis.webhooks_of(kind):
                results.append(WebhookResult(hook.name, kind, self.hooks.get(kind, default)))
        declared = None if self.git_broken else self.declared
        return Observations(
            declared=declared,
            git_error="connection refused" if self.git_broken else "",
            target=self.target.state(self.ticks),
            primary=self.primary.state(self.ticks),
            checks=checks,
            webhooks=tuple(results),
            manual=tuple(ManualRequest(a, t) for a, t in sorted(self.manual.items())),
            revert=self.last_revert,
            mesh_weights=self.mesh,
            deleting=self.deleting,
        )

    def apply(self, actions: tuple[Action, ...]) -> None:
        """Apply actions in order, as the adapters would."""
        for action in actions:
            if isinstance(action, SetWeights):
                self.mesh = (action.primary, action.canary)
                self.mesh_match = action.match
            elif isinstance(action, ApplyRevision):
                if self.target.image != action.revision.image or self.target.replicas != action.replicas:
                    self.target.changed_at = self.ticks
                self.target.image = action.revision.image
                self.target.replicas = action.replicas
                self.target.exists = True
            elif isinstance(action, ScaleTarget):
                if self.target.replicas != action.replicas:
                    self.target.changed_at = self.ticks
                self.target.replicas = action.replicas
            elif isinstance(action, EnsurePrimary | PromotePrimary):
                if self.primary.image != action.revision.image or not self.primary.exists:
                    self.primary.changed_at = self.ticks
                self.primary.image = action.revision.image
                self.primary.exists = True
            elif isinstance(action, PushRevert):
                self._push_revert(action)
            elif isinstance(action, Finalize):
                self.finalized = True

    def _push_revert(self, action: PushRevert) -> None:
        if action.revert_id in self.reverts_written:
            self.last_revert = RevertOutcome(action.revert_id, self.reverts_written[action.revert_id])
            return
        tip = self.declared
        if tip is None or tip.image != action.failed_revision.image:
            self.last_revert = RevertOutcome(action.revert_id, "")  # superseded by a newer commit
            return
        rev = self.commit(action.to_revision.image)
        self.reverts_written[action.revert_id] = rev.commit
        self.last_revert = RevertOutcome(action.revert_id, rev.commit)

    def tick(self, crash: int | None = None) -> Decision:
        """One reconcile: decide from the persisted status, write it, apply the actions.

        ``crash``: the process dies after writing the status and applying only the first ``crash``
        actions; the shell's memory (the last revert outcome) is lost with it.
        """
        status = Status.from_dict(copy.deepcopy(self.status))
        obs = self.observe(self.spec, status)
        decision = decide(self.spec, status, obs, self.now)
        restarted = decide(self.spec, Status.from_dict(status.to_dict()), obs, self.now)
        assert restarted == decision, "a restart from the persisted status decided differently"
        if status.pending_revert is not None and decision.next_status.pending_revert is None and obs.revert:
            self.confirmed_reverts.add(obs.revert.revert_id)
        self.observations.append(obs)
        self.decisions.append(decision)
        self.status = decision.next_status.to_dict()
        assert Status.from_dict(self.status) == decision.next_status
        if crash is None:
            self.apply(decision.actions)
        else:
            self.apply(decision.actions[:crash])
            self.last_revert = None  # the shell's memory is lost with the process
        self.ticks += 1
        self.now += timedelta(seconds=self.tick_seconds)
        return decision

    def current(self) -> Status:
        """The persisted status, parsed."""
        return Status.from_dict(self.status)

    def run(self, ticks: int) -> list[Decision]:
        """Run several ticks."""
        return [self.tick() for _ in range(ticks)]

    def run_until(self, done: Callable[[World], bool], limit: int = 200) -> None:
        """Tick until ``done`` holds (fails after ``limit`` ticks)."""
        for _ in range(limit):
            if done(self):
                return
            self.tick()
        raise AssertionError(f"not done after {limit} ticks; phase {self.current().phase}")


def bootstrapped(spec: CanarySpec, image: str = "app:1") -> World:
    """A world whose Canary has bootstrapped on ``image`` and is at rest."""
    world = World(spec=spec)
    world.commit(image)
    world.run_until(lambda w: w.current().phase == "Initialized", limit=10)
    return world
