"""The ports one reconcile tick acts through, bundled so that a test swaps every one for a fake.

Kubernetes objects go through the kube adapters (`controller.kube`), traffic through a router per
provider (`controller.routers`), Git through the Git port (`controller.gitops.port`), metric servers
through providers built by a factory (`analysis.providers`). The few ports defined here are the
operator's own: Secrets by name, MetricTemplates by name, gate/hook webhooks, and leadership.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from analysis.providers import ProviderConfig
from analysis.query import MetricProvider
from controller.core.spec import WebhookSpec
from controller.gitops.port import GitPort
from controller.kube.events import EventRecorder
from controller.kube.lease import Leadership
from controller.kube.services import Services
from controller.kube.status import CanaryStatus
from controller.kube.workloads import Workloads
from controller.operator.metrics import OperatorMetrics
from controller.routers.apply import Router


class SecretReader(Protocol):
    """Read one Secret's decoded data by name (never listed, never logged)."""

    def read(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """The Secret's data, base64-decoded, or None when it does not exist."""
        ...


class TemplateLookup(Protocol):
    """Find a MetricTemplate by namespace and name (a kopf index, or the API)."""

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The MetricTemplate object, or None."""
        ...


@dataclass(frozen=True)
class WebhookCall:
    """What is POSTed to a webhook (Flagger's payload) and where."""

    webhook: WebhookSpec
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class WebhookReply:
    """The outcome of one webhook call: 2xx is ``ok``; ``message`` says why not."""

    ok: bool
    message: str = ""


class WebhookCaller(Protocol):
    """Call one webhook; transport faults come back as a failed reply, never raised."""

    def call(self, request: WebhookCall) -> WebhookReply:
        """POST ``request.payload`` to ``request.webhook.url`` within its timeout."""
        ...


class AlwaysLeader:
    """`Leadership` when leader election is off: this replica always acts."""

    def is_leader(self) -> bool:
        """Always True."""
        return True


ProviderFactory = Callable[[ProviderConfig], MetricProvider]
"""Build a metric provider; raises ``AddressNotAllowed``/``UnknownProviderType`` when refused."""

RouterFactory = Callable[[str], Router]
"""The router of a provider name (``spec.provider``); raises ``UnknownProvider``."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Ports:
    """Every adapter one reconcile tick needs; built once per process (kept in kopf's ``memo``)."""

    canaries: CanaryStatus
    workloads: Workloads
    services: Services
    routers: RouterFactory
    events: EventRecorder
    git: GitPort
    secrets: SecretReader
    templates: TemplateLookup
    providers: ProviderFactory
    webhooks: WebhookCaller
    leadership: Leadership = field(default_factory=AlwaysLeader)
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)
    clock: Callable[[], datetime] = _utcnow
