"""What the shell gathers before each decision (``Observations``) and what it should gather (``Needs``).

All plain data: the shell reads Git, the two Deployments, the mesh object and the Canary's
annotations every tick (cheap), and queries metrics and calls gate webhooks only when ``needs()``
says so (so Prometheus and webhooks see no traffic when no check is due).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from analysis.verdict import CheckResult
from controller.core.spec import WebhookType
from controller.core.status import Revision


@dataclass(frozen=True)
class WorkloadState:
    """One Deployment as observed: the image of its pod template and whether it is ready.

    ``ready`` means the Deployment finished rolling out its current template with at least one
    available replica (``updatedReplicas == replicas == availableReplicas`` and the generation
    observed), so an image that is applied but still starting is not ready.
    """

    exists: bool = False
    image: str = ""
    replicas: int = 0  # desired replicas (spec.replicas)
    ready_replicas: int = 0
    ready: bool = False


class ManualAction(enum.StrEnum):
    """The manual controls the CLI sets as annotations (``serinus.dev/<action>: <token>``)."""

    PROMOTE = "promote"
    ABORT = "abort"
    RETRY = "retry"
    SUSPEND = "suspend"
    RESUME = "resume"


@dataclass(frozen=True)
class ManualRequest:
    """A manual control with its token; a token is consumed once (recorded in ``status.manualTokens``).

    The CLI writes the time of the request as the token (RFC 3339, UTC), so tokens order in time:
    when ``suspend`` and ``resume`` are both new, the later one wins.
    """

    action: ManualAction
    token: str


@dataclass(frozen=True)
class WebhookResult:
    """The outcome of calling one gate, hook or rollback webhook this tick (2xx = ``ok``)."""

    name: str
    type: WebhookType
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class RevertOutcome:
    """The result of the last ``PushRevert`` the shell applied.

    ``commit`` is the sha of the revert commit on the branch (also when the adapter found it had
    already been written), or empty when no commit was needed because the branch tip no longer
    declares the failed image (a newer commit superseded it).
    """

    revert_id: str
    commit: str = ""


@dataclass(frozen=True)
class Observations:
    """Everything the core knows about the world at one tick.

    - ``declared``: the revision Git declares now; None with ``git_error`` when it could not be read
      (a read error is "no news", never a reason to change course).
    - ``target`` / ``primary``: the two Deployments.
    - ``checks``: this tick's metric results, or None when no check was run.
    - ``webhooks``: results of the webhooks ``Needs.webhooks`` asked for.
    - ``manual``: manual controls currently set on the Canary (consumed tokens are ignored).
    - ``revert``: the outcome of the last revert push, if any.
    - ``mesh_weights``: ``(primary, canary)`` read back from the mesh object, or None if unknown.
    - ``deleting``: the Canary has a deletion timestamp.
    """

    declared: Revision | None = None
    git_error: str = ""
    target: WorkloadState = WorkloadState()
    primary: WorkloadState = WorkloadState()
    checks: tuple[CheckResult, ...] | None = None
    webhooks: tuple[WebhookResult, ...] = ()
    manual: tuple[ManualRequest, ...] = ()
    revert: RevertOutcome | None = None
    mesh_weights: tuple[int, int] | None = None
    deleting: bool = False

    def webhook_results(self, kind: WebhookType) -> tuple[WebhookResult, ...]:
        """The results of one webhook type."""
        return tuple(w for w in self.webhooks if w.type is kind)


@dataclass(frozen=True)
class Needs:
    """What the shell must gather this tick besides the cheap reads.

    ``metrics``: evaluate every metric of ``spec.analysis.metrics`` (put the results in
    ``Observations.checks``). ``webhooks``: call every webhook of these types, in this order, and
    report each result in ``Observations.webhooks``.
    """

    metrics: bool = False
    webhooks: tuple[WebhookType, ...] = ()
    reason: str = ""
