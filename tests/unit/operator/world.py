"""An in-memory cluster, Git and metrics for driving ``controller.reconcile`` tick by tick.

The Kubernetes side is the real adapters (workloads, services, status, routers) over the in-memory
``MemoryObjects`` store, so resourceVersion guards, generations and subresources behave as on the API
server. ``settle()`` plays the Deployment controller (it writes each Deployment's status as ready).
Git is ``FakeGit``: a branch as a list of commits, with reverts found again by their trailer.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from analysis.providers import Allowlist, ProviderConfig, make_provider
from analysis.providers.scripted import ScriptedProvider
from analysis.query import MetricProvider
from controller.gitops.port import (
    DeclaredRevision,
    GitReadError,
    GitSource,
    RevertOutcome,
    RevertRequest,
    RevertResult,
)
from controller.kube.events import MemoryEvents
from controller.kube.memory import MemoryObjects
from controller.kube.objects import CANARY, DEPLOYMENT, Obj
from controller.kube.services import KubeServices
from controller.kube.status import KubeCanaryStatus
from controller.kube.workloads import KubeWorkloads
from controller.operator.lookups import MemorySecrets, MemoryTemplates
from controller.operator.metrics import OperatorMetrics
from controller.operator.ports import Ports, WebhookCall, WebhookReply
from controller.reconcile import Reconciler, Settings, TickResult
from controller.routers.apply import Router, RouterAdapter
from controller.routers.registry import get_router

NS = "shop"
NAME = "podinfo"
OLD = "ghcr.io/acme/podinfo:6.0.3"
NEW = "ghcr.io/acme/podinfo:6.1.0"
START = datetime(2026, 1, 1, tzinfo=UTC)
METRICS_SERVER = "http://prometheus.test:9090"


@dataclass
class Commit:
    sha: str
    image: str
    canary: str = ""
    reverts: str = ""  # the Serinus-Reverts trailer
    template: dict[str, Any] | None = None  # the manifest's pod template, when the file has one


class FakeGit:
    """The Git port over one branch held in memory; ``fail_reverts`` makes the next pushes fail."""

    def __init__(self, image: str) -> None:
        self._shas = (f"{n:040x}" for n in itertools.count(0xC0FFEE))
        self.branch: list[Commit] = [Commit(next(self._shas), image)]
        self.reads = 0
        self.refreshes = 0
        self.read_error: GitReadError | None = None
        self.fail_reverts = 0
        self.revert_calls: list[RevertRequest] = []

    def commit(self, image: str, template: dict[str, Any] | None = None) -> str:
        """A developer commits a new image (and, for a Deployment manifest, its whole pod template)."""
        sha = next(self._shas)
        self.branch.append(Commit(sha, image, template=template))
        return sha

    @property
    def tip(self) -> Commit:
        return self.branch[-1]

    def reverts(self) -> list[Commit]:
        return [c for c in self.branch if c.reverts]

    def declared(self, source: GitSource) -> DeclaredRevision | GitReadError:
        self.reads += 1
        if self.read_error is not None:
            return self.read_error
        return DeclaredRevision(self.tip.sha, self.tip.image, self.tip.template)

    def write_revert(self, source: GitSource, request: RevertRequest) -> RevertResult:
        self.revert_calls.append(request)
        if self.fail_reverts > 0:
            self.fail_reverts -= 1
            return RevertResult(RevertOutcome.FAILED, message="push rejected (injected)")
        for c in self.branch:
            if c.reverts == request.reverts and c.canary == request.canary:
                return RevertResult(RevertOutcome.ALREADY_PRESENT, commit=c.sha)
        if self.tip.image != request.failed_image:
            return RevertResult(RevertOutcome.SUPERSEDED, tip_commit=self.tip.sha, tip_image=self.tip.image)
        sha = next(self._shas)
        self.branch.append(Commit(sha, request.to_image, request.canary, request.reverts))
        return RevertResult(RevertOutcome.PUSHED, commit=sha)

    def refresh(self, url: str) -> None:
        self.refreshes += 1


class FakeWebhooks:
    """Records every call; answers from ``replies`` by webhook name (default: ok)."""

    def __init__(self) -> None:
        self.calls: list[WebhookCall] = []
        self.replies: dict[str, WebhookReply] = {}

    def call(self, request: WebhookCall) -> WebhookReply:
        self.calls.append(request)
        return self.replies.get(request.webhook.name, WebhookReply(True))


class ManualLeader:
    def __init__(self, leading: bool = True) -> None:
        self.leading = leading

    def is_leader(self) -> bool:
        return self.leading


def deployment(name: str = NAME, image: str = OLD, replicas: int = 2) -> Obj:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image, "ports": [{"containerPort": 9898}]}]},
            },
        },
    }


def canary(analysis: Mapping[str, Any] | None = None, **spec: Any) -> Obj:
    body: Obj = {
        "apiVersion": "serinus.dev/v1alpha1", "kind": "Canary",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
            "source": {"git": {"url": "git://git.test/fleet.git", "branch": "main",
                               "path": "apps/podinfo/deployment.yaml", "interval": "30s"}},
            "provider": "gatewayapi",
            "service": {"port": 9898, "targetPort": 9898,
                        "gatewayRefs": [{"name": "public", "namespace": "gateway"}]},
            "analysis": {
                "interval": "10s", "threshold": 2, "stepWeight": 25, "maxWeight": 50, "inconclusiveLimit": 3,
                "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99},
                             "interval": "1m"}],
            },
            "progressDeadlineSeconds": 60,
        },
    }
    if analysis is not None:
        body["spec"]["analysis"] = dict(analysis)
    body["spec"].update(spec)
    return body


@dataclass
class World:
    """Everything one operator process talks to, in memory, and the operator itself."""

    objects: MemoryObjects = field(default_factory=MemoryObjects)
    git: FakeGit = field(default_factory=lambda: FakeGit(OLD))
    events: MemoryEvents = field(default_factory=MemoryEvents)
    webhooks: FakeWebhooks = field(default_factory=FakeWebhooks)
    secrets: MemorySecrets = field(default_factory=MemorySecrets)
    templates: MemoryTemplates = field(default_factory=MemoryTemplates)
    prometheus: ScriptedProvider = field(default_factory=lambda: ScriptedProvider({"envoy": [100.0]}))
    leader: ManualLeader = field(default_factory=ManualLeader)
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)
    now: datetime = START
    allowlist: Allowlist = field(default_factory=lambda: Allowlist([METRICS_SERVER]))
    provider_configs: list[ProviderConfig] = field(default_factory=list)
    reconciler: Reconciler = field(init=False)

    def __post_init__(self) -> None:
        self.reconciler = self.new_operator()
        self.objects.watchers.append(self._canary_event)

    def _canary_event(self, res: Any, namespace: str, name: str) -> None:
        """What kopf's watch does in the operator: every Canary write reaches ``touched``."""
        if res == CANARY:
            self.reconciler.touched(namespace, name)

    def _provider(self, config: ProviderConfig) -> MetricProvider:
        self.provider_configs.append(config)
        self.allowlist.check(config.address)  # refused addresses raise, as the real factory does
        if config.type != "prometheus":
            return make_provider(config, self.allowlist)  # raises UnknownProviderType
        return self.prometheus

    def _router(self, provider: str) -> Router:
        return RouterAdapter(self.objects, get_router(provider))

    def new_operator(self) -> Reconciler:
        """A fresh operator process (nothing in memory) over the same world: a restart."""
        ports = Ports(
            canaries=KubeCanaryStatus(self.objects), workloads=KubeWorkloads(self.objects),
            services=KubeServices(self.objects), routers=self._router, events=self.events, git=self.git,
            secrets=self.secrets, templates=self.templates, providers=self._provider, webhooks=self.webhooks,
            leadership=self.leader, metrics=self.metrics, clock=lambda: self.now,
        )
        return Reconciler(ports, Settings(metrics_server=METRICS_SERVER))

    # -- the cluster ------------------------------------------------------------------------------

    def create(self, body: Mapping[str, Any]) -> None:
        kind = body["kind"]
        res = CANARY if kind == "Canary" else DEPLOYMENT
        self.objects.create(res, NS, body)

    def setup(self, analysis: Mapping[str, Any] | None = None, **spec: Any) -> None:
        self.create(deployment())
        self.create(canary(analysis, **spec))

    def get(self, res: Any, name: str) -> Obj:
        obj = self.objects.get(res, NS, name)
        assert obj is not None, f"{res.kind} {name} does not exist"
        return obj

    def status(self) -> dict[str, Any]:
        return dict(self.get(CANARY, NAME).get("status") or {})

    def settle(self, broken: tuple[str, ...] = ()) -> None:
        """Play the Deployment controller: every Deployment not in ``broken`` rolls out and is ready."""
        for (res, _ns, name), obj in list(self.objects.objects.items()):
            if res != DEPLOYMENT or name in broken:
                continue
            replicas = int(obj["spec"].get("replicas", 1))
            status = {"observedGeneration": obj["metadata"]["generation"], "replicas": replicas,
                      "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}
            # Written straight into the store: the Deployment controller is not the operator under test,
            # so its writes neither pass through fault injection nor count as the operator's writes.
            obj["status"] = status

    def image(self, name: str) -> str:
        return str(self.get(DEPLOYMENT, name)["spec"]["template"]["spec"]["containers"][0]["image"])

    def replicas(self, name: str) -> int:
        return int(self.get(DEPLOYMENT, name)["spec"]["replicas"])

    # -- time -------------------------------------------------------------------------------------

    def tick(self, seconds: float = 2.0, settle: bool = True) -> TickResult:
        """Advance the clock, let Deployments settle, run one operator tick."""
        self.now += timedelta(seconds=seconds)
        if settle:
            self.settle()
        return self.reconciler.tick(NS, NAME)

    def run_until(self, phase: str, limit: int = 200, seconds: float = 2.0) -> list[TickResult]:
        results = []
        for _ in range(limit):
            results.append(self.tick(seconds))
            if self.status().get("phase") == phase:
                return results
        raise AssertionError(f"phase {phase} not reached; status: {self.status()}")
