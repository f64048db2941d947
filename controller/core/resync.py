"""When a Canary at rest may skip reading its Deployments and its route: the last look still stands.

A run needs fresh observations every tick (readiness, weights read back). A Canary at rest
(``Initialized``, ``Succeeded``, ``Failed``) with nothing new does not: its Deployments and route only
matter for drift repair, and what starts the next run (a Canary edit, a manual control, a deletion,
a new declaration in Git) is seen without them. So the shell keeps the last ``Look`` of a tick that
changed nothing, and reuses it until any of those inputs moves or ``resync`` seconds pass, the bound
on how long drift (a scaled-up target, an edited route, a deleted primary) can go unrepaired.
This is what an informer's resync period is to a Go controller, without holding every object.

Until ``quiet_until`` such a Canary needs no tick at all: nothing at rest is timed, the Canary's
own changes arrive as watch events (which end the quiet at once), and Git is due only at its poll
interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.core.observations import WorkloadState
from controller.core.status import REST_PHASES, Revision, Status


@dataclass(frozen=True, slots=True)  # one per Canary at rest: keep it small
class Look:
    """The Deployments and the route as one tick read them, with what that tick saw of the Canary and Git.

    ``canary_version`` is the Canary's resourceVersion after the tick (any later write to it, by
    anyone, changes it); ``declared``/``git_error`` are what Git said.
    """

    canary_version: str
    declared: Revision | None
    git_error: str
    at: datetime
    target: WorkloadState
    primary: WorkloadState
    mesh_weights: tuple[int, int] | None


def worth_keeping(status: Status, acted: bool) -> bool:
    """Whether a tick's look may be reused: the Canary is at rest and the tick changed nothing.

    A tick that acted (scaled, routed, repaired) changed what it read, so its look is already old.
    """
    return not acted and status.phase in REST_PHASES and status.pending_revert is None


def quiet_until(look: Look, *, git_read_at: datetime, git_interval: float, resync: float) -> datetime:
    """Until when a Canary at rest needs no tick: its look expires or Git is due to be read again."""
    return min(look.at + timedelta(seconds=resync), git_read_at + timedelta(seconds=git_interval))


def look_stands(
    look: Look | None,
    status: Status,
    *,
    canary_version: str,
    declared: Revision | None,
    git_error: str,
    now: datetime,
    resync: float,
) -> bool:
    """True when ``look`` may stand in for reading the Deployments and the route this tick.

    It stands only at rest, for the same Canary version and the same answer from Git, and for less
    than ``resync`` seconds (0 turns reuse off).
    """
    if look is None or resync <= 0:
        return False
    if status.phase not in REST_PHASES or status.pending_revert is not None:
        return False
    if canary_version != look.canary_version or (declared, git_error) != (look.declared, look.git_error):
        return False
    age = (now - look.at).total_seconds()
    return 0 <= age < resync
