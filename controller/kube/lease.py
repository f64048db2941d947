"""Leader election on a `coordination.k8s.io/v1` Lease: with several replicas exactly one acts.

`decide_leadership` is pure: from the Lease as read, who I am and the time, it says whether to
create, renew, take over or follow, and the spec to write. `LeaderElector` applies it with writes
guarded by `resourceVersion`: a 409 means another replica won the race, so this one follows.
A leader that cannot renew stops believing it leads once its last successful renewal is a lease
duration old (measured on a monotonic clock), which is exactly when others may take over.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from controller.kube.objects import LEASE, AlreadyExists, ApiError, Conflict, Obj, Objects

log = logging.getLogger(__name__)

DEFAULT_DURATION_SECONDS = 15


class LeaseAction(enum.StrEnum):
    """What a contender does this round."""

    CREATE = "create"  # no Lease yet: create it holding it
    RENEW = "renew"  # I hold it: renew
    TAKE_OVER = "take-over"  # the holder let it expire (or released it): acquire it
    FOLLOW = "follow"  # someone else holds a live Lease: write nothing


@dataclass(frozen=True)
class LeaseDecision:
    """The action and, unless following, the Lease spec to write."""

    action: LeaseAction
    spec: dict[str, Any] | None
    holder: str | None
    reason: str

    @property
    def leads(self) -> bool:
        """True when this contender leads if its write succeeds."""
        return self.action is not LeaseAction.FOLLOW


def micro_time(now: dt.datetime) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(raw: Any) -> dt.datetime | None:
    if not raw:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(raw))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def decide_leadership(spec: Mapping[str, Any] | None, me: str, now: dt.datetime,
                      duration_seconds: int = DEFAULT_DURATION_SECONDS) -> LeaseDecision:
    """Decide this round of leader election (pure).

    `spec` is the Lease's spec as read (None when there is no Lease). A Lease expires at
    `renewTime + leaseDurationSeconds` (the holder's own duration); one without a holder or a
    readable renewTime is free.
    """
    if not me:
        raise ValueError("a leader election identity must not be empty")
    stamp = micro_time(now)
    if spec is None:
        new = {"holderIdentity": me, "leaseDurationSeconds": duration_seconds, "acquireTime": stamp,
               "renewTime": stamp, "leaseTransitions": 0}
        return LeaseDecision(LeaseAction.CREATE, new, me, "no lease yet")
    holder = spec.get("holderIdentity") or None
    transitions = int(spec.get("leaseTransitions") or 0)
    if holder == me:
        renewed = {**spec, "renewTime": stamp, "leaseDurationSeconds": duration_seconds}
        return LeaseDecision(LeaseAction.RENEW, renewed, me, "I hold the lease")
    renew = _parse_time(spec.get("renewTime"))
    held_for = int(spec.get("leaseDurationSeconds") or duration_seconds)
    if holder and renew is not None and now < renew + dt.timedelta(seconds=held_for):
        until = micro_time(renew + dt.timedelta(seconds=held_for))
        return LeaseDecision(LeaseAction.FOLLOW, None, holder, f"{holder} holds the lease until {until}")
    taken = {**spec, "holderIdentity": me, "leaseDurationSeconds": duration_seconds, "acquireTime": stamp,
             "renewTime": stamp, "leaseTransitions": transitions + 1}
    why = f"{holder}'s lease expired" if holder else "the lease is free"
    return LeaseDecision(LeaseAction.TAKE_OVER, taken, me, why)


class Leadership(Protocol):
    """Port: am I the leader?"""

    def is_leader(self) -> bool:
        """True while this replica may act."""
        ...


class LeaderElector:
    """Leader election over the `Objects` port (real or in-memory)."""

    def __init__(self, objects: Objects, namespace: str, name: str, identity: str, *,
                 duration_seconds: int = DEFAULT_DURATION_SECONDS,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if duration_seconds < 1:
            raise ValueError(f"lease duration must be at least 1 second, got {duration_seconds}")
        self.objects = objects
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration_seconds = duration_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._valid_until = float("-inf")
        self.last_decision: LeaseDecision | None = None

    def is_leader(self) -> bool:
        """True until a lease duration after the last successful acquire or renewal."""
        return self._monotonic() < self._valid_until

    def tick(self) -> bool:
        """One round: read the Lease, decide, write if leading; returns whether this replica leads."""
        started = self._monotonic()
        try:
            stored = self.objects.get(LEASE, self.namespace, self.name)
            decision = decide_leadership(stored.get("spec") if stored else None, self.identity, self._clock(),
                                         self.duration_seconds)
            self.last_decision = decision
            if decision.action is LeaseAction.FOLLOW or decision.spec is None:
                self._valid_until = float("-inf")
                return False
            if stored is None:
                self.objects.create(LEASE, self.namespace, self._body(decision.spec, None))
            else:
                self.objects.replace(LEASE, self.namespace, self.name, self._body(decision.spec, stored))
        except (AlreadyExists, Conflict):
            self._valid_until = float("-inf")  # another contender won this round
            return False
        except ApiError as exc:
            # Unreachable or refused: keep leading only while the last renewal is still valid.
            log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
            return self.is_leader()
        self._valid_until = started + self.duration_seconds
        return True

    def _body(self, spec: Mapping[str, Any], stored: Mapping[str, Any] | None) -> Obj:
        if stored is None:
            return {"apiVersion": LEASE.api_version, "kind": LEASE.kind,
                    "metadata": {"name": self.name, "namespace": self.namespace}, "spec": dict(spec)}
        return {**stored, "spec": dict(spec)}

    def release(self) -> None:
        """Give the Lease up (on shutdown) so another replica takes over at once."""
        if not self.is_leader():
            return
        self._valid_until = float("-inf")
        try:
            stored = self.objects.get(LEASE, self.namespace, self.name)
            if stored is None or (stored.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            spec = {k: v for k, v in stored["spec"].items() if k != "holderIdentity"}
            self.objects.replace(LEASE, self.namespace, self.name, {**stored, "spec": spec})
        except ApiError as exc:
            log.warning("lease %s/%s: could not release: %s", self.namespace, self.name, exc)

    def run(self, stop: threading.Event, on_change: Callable[[bool], None] | None = None,
            interval: float | None = None) -> None:
        """Tick every `interval` (default: a third of the lease duration) until `stop` is set."""
        every = interval if interval is not None else self.duration_seconds / 3
        leading = False
        while not stop.is_set():
            now_leading = self.tick()
            if now_leading != leading and on_change is not None:
                on_change(now_leading)
            leading = now_leading
            stop.wait(every)
        self.release()
        if leading and on_change is not None:
            on_change(False)
