"""The actions ``decide`` asks the shell to apply, in order, as explicit values.

Every action is idempotent: applying it twice leaves the world as applying it once (the shell's
adapters compare before they write, and revert pushes carry their ``revert_id``). The shell first
writes the decision's ``next_status`` (if that write fails, e.g. on a stale ``resourceVersion``, it
applies nothing), then applies the actions in order and stops at the first that fails: whatever did
not happen is seen in the next observations and asked for again.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.core.spec import WebhookType
from controller.core.status import Phase, Revision, RollbackCause


@dataclass(frozen=True)
class EnsurePrimary:
    """Create or update ``<target>-primary`` with the pod template ``revision`` declares in Git.

    Used at bootstrap (first sight: what Git declares now) and to restore the last promoted
    template when a promotion cannot finish.
    """

    revision: Revision


@dataclass(frozen=True)
class EnsureServices:
    """Create the apex, ``-primary`` and ``-canary`` Services and the mesh object (100/0) if absent."""


@dataclass(frozen=True)
class SetWeights:
    """Route ``primary``% of traffic to the primary and ``canary``% to the target (sum is 100).

    ``match``: also send requests matching ``spec.analysis.match`` to the target (A/B testing).
    """

    primary: int
    canary: int
    match: bool = False

    def __post_init__(self) -> None:
        if self.primary + self.canary != 100 or not (0 <= self.canary <= 100):
            raise ValueError(f"weights must be 0..100 and sum to 100, got {self.primary}/{self.canary}")


@dataclass(frozen=True)
class ApplyRevision:
    """Give the target the pod template ``revision`` declares in Git and scale it to ``replicas``."""

    revision: Revision
    replicas: int


@dataclass(frozen=True)
class ScaleTarget:
    """Scale the target Deployment (0 between runs)."""

    replicas: int


@dataclass(frozen=True)
class PromotePrimary:
    """Copy the target's pod template (at ``revision``) into the primary Deployment."""

    revision: Revision


@dataclass(frozen=True)
class PushRevert:
    """Write a revert commit restoring ``to_revision.image`` in Git (section 6 of the design).

    ``revert_id`` identifies this revert: the adapter must write at most one commit per id (it
    finds an earlier one by its trailer) and report the outcome as ``RevertOutcome(revert_id, sha)``.
    """

    revert_id: str
    to_revision: Revision
    failed_revision: Revision
    cause: RollbackCause
    reason: str


@dataclass(frozen=True)
class CallWebhooks:
    """Call every webhook of a fire-and-forget type (``post-rollout``, ``event``); results are ignored.

    ``event_type``: for ``event`` webhooks, the type of the Kubernetes event they report (``Normal`` or
    ``Warning``), sent as ``metadata.eventType``.
    """

    type: WebhookType
    phase: Phase
    message: str
    event_type: str | None = None


@dataclass(frozen=True)
class EmitEvent:
    """Record a Kubernetes event on the Canary (``type`` is ``Normal`` or ``Warning``)."""

    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class Finalize:
    """The Canary is being deleted and Serinus is done with it: remove its finalizer.

    ``restore_target``: point the apex Service at the target (it runs the promoted template again)
    before removing the primary, as Flagger's ``revertOnDeletion`` does.
    """

    restore_target: bool


Action = (
    EnsurePrimary
    | EnsureServices
    | SetWeights
    | ApplyRevision
    | ScaleTarget
    | PromotePrimary
    | PushRevert
    | CallWebhooks
    | EmitEvent
    | Finalize
)
