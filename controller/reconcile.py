"""One tick for one Canary: observe -> ``core.decide`` -> write the status -> apply the actions.

The order follows the core's contract (``controller.core.actions``):

1. Read the Canary and parse its spec. A ``SpecError`` sets condition ``Ready=False``/``InvalidSpec``
   listing every path and message, records one Warning event, and does NOTHING else: a bad spec
   never touches traffic, workloads or Git.
2. Cheap observations every tick: the revision Git declares (through the Git port, at most every
   ``source.git.interval`` unless a push webhook asked for it now; credentials from the Secret named
   in ``secretRef``, read by name), the target and primary Deployments, the mesh weights read back,
   the manual-control annotations, deletion. A Canary at rest whose last tick changed nothing reuses
   that tick's look at the Deployments and route until the Canary or Git moves or ``resync`` passes,
   and is not ticked at all before its Git poll or ``resync`` is due unless a watch event
   (``touched``) or a push webhook (``trigger``) comes (``controller.core.resync``).
3. ``needs()`` says whether metrics and which gate webhooks are due; only then are they gathered.
4. ``decide()`` gives the next status and the actions. The status is written FIRST, guarded by the
   ``resourceVersion`` that was read: a stale write (409) drops the whole decision, and the next tick
   re-reads and decides again (never last-writer-wins). Then the actions are applied in order and
   the first failure stops the tick (logged); the next tick sees the world and asks again. Events
   are best effort: a failed event write is logged and does not stop the actions after it.
5. Own metrics, and one JSON log line (``canary``, ``revision``, ``phase``) for every transition.

Revert outcomes. ``PushRevert`` is applied through ``GitPort.write_revert``; its outcome must reach
the core as ``Observations.revert``. It is kept in memory per Canary and the tick runs once more at
once (a second pass: re-read, re-decide with the outcome, write), so ``status.revertCommit`` lands in
the same tick. Keeping it only in memory is safe: the status still holds ``pendingRevert`` until the
outcome is confirmed, so after a restart the core asks for the revert again, and the Git adapter,
which finds an existing revert commit by its ``Serinus-Reverts`` trailer, answers ``AlreadyPresent``
with the same sha instead of writing a second commit (I2, I4).

Everything here is written against ports (``controller.operator.ports.Ports``), so unit tests run
whole ticks with in-memory fakes; ``controller.handlers`` calls :meth:`Reconciler.tick` for every
Canary every ``--tick`` (``controller.operator.ticker``); only the leader's ticks act. Serinus's
finalizer is the leader's too: a tick adds it to a live Canary lacking it, ``Finalize`` removes it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from analysis.evaluate import CanaryRef, evaluate
from analysis.evaluate import MetricSpec as AnalysisMetric
from analysis.providers import AddressNotAllowed, ProviderConfig, UnknownProviderType
from analysis.query import MetricProvider, QueryResult, Tick
from analysis.verdict import CheckResult, Verdict
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
from controller.core.decide import Decision, decide, needs
from controller.core.durations import format_duration
from controller.core.observations import (
    ManualAction,
    ManualRequest,
    Observations,
    RevertOutcome,
    WebhookResult,
)
from controller.core.resync import Look, look_stands, quiet_until, worth_keeping
from controller.core.spec import CanarySpec, SpecError, WebhookType, parse_canary
from controller.core.status import RUN_PHASES, Phase, Revision, RollbackCause, Status
from controller.gitops.credentials import Credentials, CredentialsError
from controller.gitops.port import (
    DeclaredRevision,
    GitErrorKind,
    GitIdentity,
    GitReadError,
    GitSource,
    RevertRequest,
)
from controller.gitops.port import RevertOutcome as GitRevertOutcome
from controller.kube.ownership import OwnerRef
from controller.kube.services import ServicePlan, ServicePort
from controller.kube.status import ControlAnnotation, StaleStatus, manual_controls
from controller.kube.workloads import canary_selector, primary_name, primary_selector
from controller.operator.ports import Ports, WebhookCall
from controller.operator.template_provider import TemplateProviderError, template_provider_config
from controller.operator.webhooks import payload
from controller.operator.workload_view import template_with_image, workload_state
from controller.routers.apply import Router
from controller.routers.model import RouterError, RouteTarget, Weights
from controller.routers.registry import UnknownProvider

log = logging.getLogger("serinus.reconcile")

INVALID_SPEC = "InvalidSpec"
_FOREIGN_STATUS_KEYS = ("kopf",)  # kopf's own progress storage lives beside ours


class ActionFailed(RuntimeError):
    """An action could not be applied; the tick stops there."""


@dataclass(frozen=True)
class Settings:
    """Operator-wide settings of the reconcile loop (from ``serinus run`` flags)."""

    default_provider: str | None = None  # stands in for an absent spec.provider
    metrics_server: str = ""  # address of the built-in metrics' Prometheus (--metrics-server)
    metrics_timeout: float = 5.0
    git_identity: GitIdentity | None = None  # author of revert commits
    resync: float = 30.0  # seconds a Canary at rest trusts its last look (--resync); 0: read every tick


@dataclass
class TickResult:
    """What one tick did, for callers, tests and logs.

    ``outcome``: ``not-leader`` (wrote nothing), ``absent``, ``invalid-spec``, ``stale`` (status
    write refused, nothing applied), ``applied`` (every action applied) or ``action-failed``.
    """

    outcome: str
    decision: Decision | None = None
    applied: list[Action] = field(default_factory=list)
    error: str = ""
    finalized: bool = False
    passes: int = 1


@dataclass
class _Declared:
    at: datetime
    key: tuple[str, ...]
    revision: Revision | None
    error: str
    pod_template: Mapping[str, Any] | None = None  # the manifest's template, when the file has one


class _Refused:
    """A metric provider that could not be built: every query answers the refusal as an ERROR."""

    def __init__(self, message: str) -> None:
        self.message = message

    def query(self, query: str) -> QueryResult:
        return QueryResult.error(self.message)


class Reconciler:
    """Runs ticks for every Canary of one operator process; thread-safe per Canary."""

    def __init__(self, ports: Ports, settings: Settings | None = None) -> None:
        self.ports = ports
        self.settings = settings or Settings()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._declared: dict[str, _Declared] = {}
        self._refresh: set[str] = set()
        self._reverts: dict[str, RevertOutcome] = {}
        self._providers: dict[ProviderConfig, MetricProvider] = {}
        self._run_started: dict[str, datetime] = {}
        self._looks: dict[str, Look] = {}
        self._quiet: dict[str, datetime] = {}  # at rest: no tick needed before then (core.resync)
        self._touches: dict[str, int] = {}  # watch events seen per Canary

    # -- entry points -----------------------------------------------------------------------------

    def tick(self, namespace: str, name: str) -> TickResult:
        """One tick for ``namespace/name``; a replica that is not the leader writes nothing."""
        if not self.ports.leadership.is_leader():
            return TickResult("not-leader")
        key = f"{namespace}/{name}"
        with self._lock(key):
            quiet = self._quiet.get(key)
            if quiet is not None and self.ports.clock() < quiet and key not in self._refresh:
                return TickResult("at-rest")
            self._quiet.pop(key, None)
            result = self._tick(namespace, name, key)
            if result.outcome == "applied" and any(isinstance(a, PushRevert) for a in result.applied):
                # The revert outcome is in memory: let the core confirm it now (see module doc).
                second = self._tick(namespace, name, key)
                second.applied = result.applied + second.applied
                second.passes = 2
                second.finalized = second.finalized or result.finalized
                return second
            return result

    def trigger(self, namespace: str, name: str) -> None:
        """A push webhook arrived for this Canary: read Git at its next tick, skipping the interval."""
        self._refresh.add(f"{namespace}/{name}")

    def touched(self, namespace: str, name: str) -> None:
        """A watch event for this Canary (any write, ours too): its next tick runs, whatever the quiet."""
        key = f"{namespace}/{name}"
        self._touches[key] = self._touches.get(key, 0) + 1
        self._quiet.pop(key, None)

    def forget(self, namespace: str, name: str) -> None:
        """The Canary is gone: drop what is kept in memory for it."""
        key = f"{namespace}/{name}"
        caches: tuple[dict[str, Any], ...] = (self._declared, self._reverts, self._run_started, self._looks,
                                              self._quiet, self._touches)
        for cache in caches:
            cache.pop(key, None)
        self._refresh.discard(key)
        self.ports.metrics.forget(namespace, name)

    # -- one pass ---------------------------------------------------------------------------------

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def _tick(self, namespace: str, name: str, key: str) -> TickResult:
        touches = self._touches.get(key, 0)
        body = self.ports.canaries.read(namespace, name)
        if body is None:
            self.forget(namespace, name)
            return TickResult("absent")
        now = self.ports.clock()
        status = Status.from_dict(body.get("status") or {})
        try:
            spec = parse_canary(body, self.settings.default_provider)
            router = self.ports.routers(spec.provider)
        except SpecError as exc:
            return self._invalid(body, status, list(exc.errors), now)
        except UnknownProvider as exc:
            return self._invalid(body, status, [("spec.provider", str(exc))], now)
        try:  # Serinus's finalizer, on a valid Canary by the leader only: deletion waits for Finalize
            body = self.ports.canaries.hold(body)
        except StaleStatus as exc:
            return TickResult("stale", error=str(exc))

        obs = self._observe(spec, body, status, router, now)
        want = needs(spec, status, now)
        checks: tuple[CheckResult, ...] | None = None
        if want.metrics:
            checks = tuple(self._gather_checks(spec))
        hooks = tuple(self._call_gates(spec, status, want.webhooks))
        obs = Observations(
            declared=obs.declared, git_error=obs.git_error, target=obs.target, primary=obs.primary,
            checks=checks, webhooks=hooks, manual=obs.manual, revert=obs.revert,
            mesh_weights=obs.mesh_weights, deleting=obs.deleting,
        )
        decision = decide(spec, status, obs, now)
        next_status = decision.next_status
        cond = next_status.condition("Ready")
        if cond is not None and cond.reason == INVALID_SPEC:
            next_status = next_status.with_condition("Ready", "True", "SpecValid", "the spec is valid", now)
        try:
            stored = self.ports.canaries.write(body, self._status_dict(body, next_status))
        except StaleStatus as exc:
            log.info("status write dropped; the next tick decides again: %s", exc,
                     extra={"canary": key, "phase": str(status.phase)})
            return TickResult("stale", decision, error=str(exc))

        self._record(spec, status, decision, checks=checks, now=now)
        result = TickResult("applied", decision)
        self._keep_look(spec, stored, obs, next_status, acted=bool(decision.actions), now=now,
                        touches=touches)
        ctx = _Applying(spec, stored, router, next_status)
        for action in decision.actions:
            try:
                self._apply(ctx, action, result)
            except Exception as exc:  # any adapter fault: stop here, the next tick asks again
                if isinstance(action, EmitEvent):
                    log.warning("event %s not recorded: %s", action.reason, exc, extra={"canary": key})
                    continue
                result.outcome = "action-failed"
                result.error = f"{type(action).__name__}: {exc}"
                log.warning("action %s failed; the next tick retries: %s", type(action).__name__, exc,
                            extra={"canary": key, "action": type(action).__name__,
                                   "phase": str(next_status.phase), "error": str(exc)})
                break
            result.applied.append(action)
        self._tidy_controls(stored, next_status)
        return result

    # -- invalid spec -----------------------------------------------------------------------------

    def _invalid(self, body: Mapping[str, Any], status: Status, errors: Sequence[tuple[str, str]],
                 now: datetime) -> TickResult:
        meta = body.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        message = "invalid spec: " + "; ".join(f"{path}: {text}" for path, text in errors)
        before = status.condition("Ready")
        result = TickResult("invalid-spec", error=message, finalized=bool(meta.get("deletionTimestamp")))
        if result.finalized:  # nothing can be undone without a valid spec: let the deletion finish
            try:
                self.ports.canaries.release(body)
            except StaleStatus:
                result.outcome = "stale"
            return result
        if before is not None and before.reason == INVALID_SPEC and before.message == message:
            return result  # already said; write nothing
        next_status = status.with_condition("Ready", "False", INVALID_SPEC, message, now)
        try:
            self.ports.canaries.write(body, self._status_dict(body, next_status))
        except StaleStatus:
            result.outcome = "stale"
            return result
        log.warning("%s", message, extra={"canary": key, "phase": str(status.phase), "reason": INVALID_SPEC})
        try:
            self.ports.events.emit(body, "Warning", INVALID_SPEC, message)
        except Exception as exc:  # best effort, as for every event
            log.warning("event %s not recorded: %s", INVALID_SPEC, exc, extra={"canary": key})
        return result

    # -- observations -----------------------------------------------------------------------------

    def _observe(self, spec: CanarySpec, body: Mapping[str, Any], status: Status, router: Router,
                 now: datetime) -> Observations:
        key = spec.key
        declared, git_error = self._declared_revision(spec, now)
        look = self._looks.get(key)
        if look is None or not look_stands(look, status, canary_version=_version(body), declared=declared,
                                           git_error=git_error, now=now, resync=self.settings.resync):
            self._looks.pop(key, None)
            look = self._look(spec, body, router, declared=declared, git_error=git_error, now=now)
        manual = []
        for control in manual_controls(body):
            try:
                manual.append(ManualRequest(ManualAction(control.action), control.token))
            except ValueError:
                continue
        revert = self._reverts.get(key)
        pending = status.pending_revert
        if revert is not None and (pending is None or pending.revert_id != revert.revert_id):
            self._reverts.pop(key, None)  # confirmed (or superseded) earlier: forget it
            revert = None
        return Observations(
            declared=declared,
            git_error=git_error,
            target=look.target,
            primary=look.primary,
            manual=tuple(manual),
            revert=revert,
            mesh_weights=look.mesh_weights,
            deleting=bool((body.get("metadata") or {}).get("deletionTimestamp")),
        )

    def _look(self, spec: CanarySpec, body: Mapping[str, Any], router: Router, *, declared: Revision | None,
              git_error: str, now: datetime) -> Look:
        """Read the target and primary Deployments and the mesh weights."""
        target_obj = self.ports.workloads.get(spec.namespace, spec.target_ref.name)
        primary_obj = self.ports.workloads.get(spec.namespace, primary_name(spec.target_ref.name))
        container = spec.source.container
        mesh: tuple[int, int] | None = None
        try:
            weights = router.observe(self._route_target(spec, body, target_obj))
            mesh = (weights.primary, weights.canary) if weights is not None else None
        except (RouterError, ValueError) as exc:
            log.debug("mesh weights unreadable: %s", exc, extra={"canary": spec.key})
        return Look(canary_version=_version(body), declared=declared, git_error=git_error, at=now,
                    target=workload_state(target_obj, container),
                    primary=workload_state(primary_obj, container), mesh_weights=mesh)

    def _keep_look(self, spec: CanarySpec, stored: Mapping[str, Any], obs: Observations, status: Status, *,
                   acted: bool, now: datetime, touches: int) -> None:
        """Keep this tick's look for the next ticks when the Canary is at rest and nothing was changed,
        and let it rest until the look expires or Git is due, unless a watch event came meanwhile."""
        key = spec.key
        look = self._looks.get(key)
        if not worth_keeping(status, acted):
            self._looks.pop(key, None)
            return
        if look is None or look.canary_version != _version(stored):
            # Re-stamped with the Canary as stored now (a status write changed its version).
            look = Look(canary_version=_version(stored), declared=obs.declared, git_error=obs.git_error,
                        at=look.at if look is not None else now, target=obs.target, primary=obs.primary,
                        mesh_weights=obs.mesh_weights)
            self._looks[key] = look
        declared = self._declared.get(key)
        if declared is not None and self._touches.get(key, 0) == touches and self.settings.resync > 0:
            self._quiet[key] = quiet_until(look, git_read_at=declared.at, git_interval=spec.source.interval,
                                           resync=self.settings.resync)
            if self._touches.get(key, 0) != touches:  # an event slipped in (``touched`` takes no lock)
                self._quiet.pop(key, None)

    def _git_source(self, spec: CanarySpec) -> GitSource:
        """The Git port's source for this Canary; raises ``CredentialsError`` for a bad Secret."""
        src = spec.source
        credentials: Credentials | None = None
        if src.secret_ref:
            data = self.ports.secrets.read(spec.namespace, src.secret_ref)
            if data is None:
                raise CredentialsError(f"Secret {spec.namespace}/{src.secret_ref} (source.git.secretRef) "
                                       "does not exist")
            credentials = Credentials.from_secret_data(data, f"{spec.namespace}/{src.secret_ref}")
        return GitSource(
            url=src.url, branch=src.branch, path=src.path, target=spec.target_ref.name,
            container=src.container or None, values_key=src.values_key or None, interval=src.interval,
            credentials=credentials,
        )

    def _declared_revision(self, spec: CanarySpec, now: datetime) -> tuple[Revision | None, str]:
        key = spec.key
        src = spec.source
        source_key = (src.url, src.branch, src.path, src.container, src.values_key, src.secret_ref,
                      spec.target_ref.name)
        cached = self._declared.get(key)
        fresh = (
            cached is not None
            and cached.key == source_key
            and key not in self._refresh
            and (now - cached.at).total_seconds() < src.interval
        )
        if cached is not None and fresh:
            return cached.revision, cached.error
        forced = key in self._refresh
        self._refresh.discard(key)
        revision: Revision | None = None
        error = ""
        try:
            source = self._git_source(spec)
            if forced:
                self.ports.git.refresh(source.url)
            answer = self.ports.git.declared(source)
        except CredentialsError as exc:
            answer = GitReadError(kind=GitErrorKind.CONFIG, message=str(exc))
        template: Mapping[str, Any] | None = None
        if isinstance(answer, DeclaredRevision):
            revision = Revision(commit=answer.commit, image=answer.image)
            template = answer.pod_template
            self.ports.metrics.git_operation("declared", "ok")
        else:
            error = f"{answer.kind}: {answer.message}"
            self.ports.metrics.git_operation("declared", str(answer.kind))
        self._declared[key] = _Declared(now, source_key, revision, error, template)
        return revision, error

    # -- metrics and gates ------------------------------------------------------------------------

    def _provider(self, config: ProviderConfig) -> MetricProvider:
        provider = self._providers.get(config)
        if provider is None:
            try:
                provider = self.ports.providers(config)
            except (AddressNotAllowed, UnknownProviderType, ValueError) as exc:
                provider = _Refused(str(exc))
            self._providers[config] = provider
        return provider

    def _template_provider(self, spec: CanarySpec, template: Mapping[str, Any]) -> ProviderConfig:
        """Raises ``TemplateProviderError`` for a timeout or insecureSkipVerify it cannot use."""
        raw = (template.get("spec") or {}).get("provider") or {}
        meta = template.get("metadata") or {}
        secret: Mapping[str, str] | None = None
        secret_name = (raw.get("secretRef") or {}).get("name")
        if secret_name:
            namespace = str(meta.get("namespace") or spec.namespace)
            secret = self.ports.secrets.read(namespace, str(secret_name))
        return template_provider_config(raw, secret, default_address=self.settings.metrics_server,
                                        default_timeout=self.settings.metrics_timeout)

    def _gather_checks(self, spec: CanarySpec) -> list[CheckResult]:
        default = ProviderConfig(address=self.settings.metrics_server, timeout=self.settings.metrics_timeout)
        providers: dict[str, MetricProvider] = {"default": self._provider(default)}
        planned: list[AnalysisMetric | CheckResult] = []
        for metric in spec.analysis.metrics:
            interval = format_duration(metric.interval)
            ref = metric.template_ref
            if ref is None:
                planned.append(AnalysisMetric(name=metric.name, range=metric.threshold_range,
                                              interval=interval, variables=dict(metric.template_variables)))
                continue
            namespace = ref.namespace or spec.namespace
            template = self.ports.templates.get(namespace, ref.name)
            query = ((template or {}).get("spec") or {}).get("query")
            if template is None or not isinstance(query, str):
                why = "does not exist" if template is None else "has no spec.query"
                planned.append(CheckResult(metric.name, Verdict.ERROR, None, metric.threshold_range, "",
                                           f"MetricTemplate {namespace}/{ref.name} {why}"))
                continue
            try:
                config = self._template_provider(spec, template)
            except TemplateProviderError as exc:
                planned.append(CheckResult(metric.name, Verdict.ERROR, None, metric.threshold_range, "",
                                           f"MetricTemplate {namespace}/{ref.name}: {exc}"))
                continue
            pkey = f"{config.type}:{config.address}:{namespace}/{ref.name}"
            providers[pkey] = self._provider(config)
            planned.append(AnalysisMetric(name=metric.name, range=metric.threshold_range, interval=interval,
                                          query=query, provider=pkey,
                                          variables=dict(metric.template_variables)))
        canary = CanaryRef(
            name=spec.name, namespace=spec.namespace, target=spec.target_ref.name,
            service=spec.service.name or spec.target_ref.name, mesh=spec.provider,
            min_requests=spec.analysis.min_requests, provider="default",
        )
        to_run = [m for m in planned if isinstance(m, AnalysisMetric)]
        answers = iter(evaluate(to_run, canary, Tick(providers)))
        return [next(answers) if isinstance(m, AnalysisMetric) else m for m in planned]

    def _call_gates(self, spec: CanarySpec, status: Status,
                    kinds: Sequence[WebhookType]) -> list[WebhookResult]:
        out: list[WebhookResult] = []
        for kind in kinds:
            for hook in spec.analysis.webhooks_of(kind):
                reply = self.ports.webhooks.call(WebhookCall(hook, payload(spec, status, hook)))
                out.append(WebhookResult(hook.name, kind, reply.ok, reply.message))
        return out

    # -- applying ---------------------------------------------------------------------------------

    def _route_target(self, spec: CanarySpec, body: Mapping[str, Any],
                      target_obj: Mapping[str, Any] | None) -> RouteTarget:
        selectors: dict[str, Any] = {}
        if target_obj is not None:
            try:
                selectors = {"primary_selector": primary_selector(target_obj),
                             "canary_selector": canary_selector(target_obj)}
            except ValueError:
                selectors = {}
        ingress = ((body.get("spec") or {}).get("ingressRef") or {}).get("name")
        try:
            owner: OwnerRef | None = OwnerRef.of(body)
        except ValueError:
            owner = None
        return RouteTarget(
            namespace=spec.namespace,
            service=spec.service.name or spec.target_ref.name,
            port=spec.service.port,
            owner=owner,
            gateway_refs=tuple({"name": r.name, **({"namespace": r.namespace} if r.namespace else {})}
                               for r in spec.service.gateway_refs),
            hosts=spec.service.hosts,
            gateways=spec.service.gateways,
            ingress_ref=str(ingress) if ingress else None,
            **selectors,
        )

    def _target(self, spec: CanarySpec) -> Mapping[str, Any]:
        obj = self.ports.workloads.get(spec.namespace, spec.target_ref.name)
        if obj is None:
            raise ActionFailed(f"target Deployment {spec.namespace}/{spec.target_ref.name} does not exist")
        return obj

    def _revision_template(self, spec: CanarySpec, container: str, revision: Revision) -> dict[str, Any]:
        """The pod template to give the target for ``revision``.

        Serinus is the applier: when Git's file is a Deployment manifest, the whole template it declares
        at that commit is applied (env, resources, probes change with the image); otherwise (a
        kustomization or Helm values) the target's current template with the declared image.
        """
        declared = self._declared.get(spec.key)
        if (
            declared is not None
            and declared.pod_template is not None
            and declared.revision == revision
        ):
            manifest = {"spec": {"template": declared.pod_template}}
            return template_with_image(manifest, container, revision.image)
        return template_with_image(self._target(spec), container, revision.image)

    def _apply(self, ctx: _Applying, action: Action, result: TickResult) -> None:
        spec, ports = ctx.spec, self.ports
        target_name = spec.target_ref.name
        container = spec.source.container
        if isinstance(action, EmitEvent):
            ports.events.emit(ctx.body, action.type, action.reason, action.message)
        elif isinstance(action, SetWeights):
            target = self._route_target(spec, ctx.body, ports.workloads.get(spec.namespace, target_name))
            match = list(spec.analysis.match) if action.match else None
            ctx.router.set_weights(target, Weights(action.primary, action.canary), match)
        elif isinstance(action, EnsurePrimary | PromotePrimary):
            template = template_with_image(self._target(spec), container, action.revision.image)
            ports.workloads.ensure_primary(ctx.body, target_name, template)
        elif isinstance(action, EnsureServices):
            target_obj = self._target(spec)
            ports.services.ensure(self._service_plan(spec, ctx.body, target_obj))
            ctx.router.ensure(self._route_target(spec, ctx.body, target_obj))
        elif isinstance(action, ApplyRevision):
            template = self._revision_template(spec, container, action.revision)
            ports.workloads.apply_pod_template(spec.namespace, target_name, template)
            ports.workloads.scale(spec.namespace, target_name, action.replicas)
        elif isinstance(action, ScaleTarget):
            ports.workloads.scale(spec.namespace, target_name, action.replicas)
        elif isinstance(action, PushRevert):
            self._push_revert(spec, action)
        elif isinstance(action, CallWebhooks):
            for hook in spec.analysis.webhooks_of(action.type):
                sent = payload(spec, ctx.status, hook, action.phase, action.message,
                               event_type=action.event_type)
                reply = ports.webhooks.call(WebhookCall(hook, sent))
                if not reply.ok:
                    log.info("%s webhook %s: %s", action.type, hook.name, reply.message,
                             extra={"canary": spec.key})
        elif isinstance(action, Finalize):
            if action.restore_target:
                target_obj = self._target(spec)
                ports.services.ensure(self._service_plan(spec, ctx.body, target_obj),
                                      apex_selector=canary_selector(target_obj))
            ports.canaries.release(ctx.body)
            result.finalized = True
        else:  # pragma: no cover - the Action union is closed
            raise ActionFailed(f"unknown action {action!r}")

    def _service_plan(self, spec: CanarySpec, body: Mapping[str, Any],
                      target_obj: Mapping[str, Any]) -> ServicePlan:
        svc = spec.service
        try:
            owner: OwnerRef | None = OwnerRef.of(body)
        except ValueError:
            owner = None
        return ServicePlan(
            namespace=spec.namespace,
            apex=svc.name or spec.target_ref.name,
            port=ServicePort(svc.port, svc.target_port, svc.port_name or "http"),
            primary_selector=primary_selector(target_obj),
            canary_selector=canary_selector(target_obj),
            owner=owner,
        )

    def _push_revert(self, spec: CanarySpec, action: PushRevert) -> None:
        source = self._git_source(spec)
        request = RevertRequest(
            canary=spec.key,
            to_image=action.to_revision.image,
            failed_image=action.failed_revision.image,
            reverts=action.failed_revision.commit,
            reason=action.reason or str(action.cause),
            author=self.settings.git_identity,
            quarantined=action.cause is RollbackCause.QUARANTINE,
        )
        answer = self.ports.git.write_revert(source, request)
        self.ports.metrics.git_operation("revert", str(answer.outcome))
        if answer.outcome is GitRevertOutcome.FAILED:
            raise ActionFailed(f"revert of {action.failed_revision.image} not written: {answer.message}")
        commit = answer.commit if answer.outcome is not GitRevertOutcome.SUPERSEDED else ""
        self._reverts[spec.key] = RevertOutcome(action.revert_id, commit)
        self._declared.pop(spec.key, None)  # the branch moved: read it again
        self._refresh.add(spec.key)
        log.info("revert %s: %s %s", action.revert_id, answer.outcome, commit[:12],
                 extra={"canary": spec.key, "revision": action.failed_revision.image})

    # -- status, metrics, logs --------------------------------------------------------------------

    @staticmethod
    def _status_dict(body: Mapping[str, Any], status: Status) -> dict[str, Any]:
        old = body.get("status") or {}
        out: dict[str, Any] = {k: old[k] for k in _FOREIGN_STATUS_KEYS if k in old}
        out.update(status.to_dict())
        generation = (body.get("metadata") or {}).get("generation")
        if generation is not None:
            out["observedGeneration"] = generation
        return out

    def _tidy_controls(self, stored: Mapping[str, Any], status: Status) -> None:
        consumed = [c for c in manual_controls(stored) if status.manual_tokens.get(c.action) == c.token]
        if not consumed:
            return
        try:
            self.ports.canaries.clear_controls(stored, tuple(ControlAnnotation(c.action, c.token)
                                                             for c in consumed))
        except Exception as exc:  # tidying is optional: the tokens are recorded as consumed
            log.debug("consumed controls not cleared: %s", exc)

    def _record(self, spec: CanarySpec, before: Status, decision: Decision, *,
                checks: tuple[CheckResult, ...] | None, now: datetime) -> None:
        after = decision.next_status
        metrics = self.ports.metrics
        metrics.observe_status(spec.namespace, spec.name, after.phase, after.canary_weight)
        if checks is not None:
            metrics.observe_checks(spec.namespace, spec.name, checks)
        if after.phase is before.phase:
            return
        key = spec.key
        if after.phase in RUN_PHASES and before.phase not in RUN_PHASES:
            self._run_started[key] = now
        if after.phase in (Phase.SUCCEEDED, Phase.FAILED):
            started = self._run_started.pop(key, None)
            seconds = (now - started).total_seconds() if started is not None else None
            metrics.run_finished(spec.namespace, spec.name, after.phase.value.lower(), seconds)
        revision = after.current_revision or after.last_promoted_revision
        log.info("%s -> %s: %s", before.phase, after.phase, decision.reason, extra={
            "canary": key, "revision": revision.image if revision else "", "phase": str(after.phase),
            "event": str(decision.event), "reason": decision.reason,
        })


def _version(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("resourceVersion") or "")


@dataclass(frozen=True)
class _Applying:
    spec: CanarySpec
    body: Mapping[str, Any]
    router: Router
    status: Status


