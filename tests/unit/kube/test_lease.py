"""Leader election: the pure decision table, and two contenders over one in-memory store."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from controller.kube.lease import LeaderElector, LeaseAction, decide_leadership, micro_time
from controller.kube.memory import MemoryObjects
from controller.kube.objects import LEASE, Conflict

T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)


def held(holder: str | None, renewed: dt.datetime, duration: int = 15,
         transitions: int = 2) -> dict[str, Any]:
    spec: dict[str, Any] = {"leaseDurationSeconds": duration, "renewTime": micro_time(renewed),
                            "acquireTime": micro_time(renewed - dt.timedelta(minutes=5)),
                            "leaseTransitions": transitions}
    if holder:
        spec["holderIdentity"] = holder
    return spec


@pytest.mark.parametrize(
    ("spec", "now", "action", "transitions"),
    [
        (None, T0, LeaseAction.CREATE, 0),
        (held("me", T0), T0 + dt.timedelta(seconds=5), LeaseAction.RENEW, 2),
        (held("me", T0), T0 + dt.timedelta(seconds=60), LeaseAction.RENEW, 2),  # mine even if late
        (held("other", T0), T0 + dt.timedelta(seconds=14), LeaseAction.FOLLOW, None),
        (held("other", T0), T0 + dt.timedelta(seconds=15), LeaseAction.TAKE_OVER, 3),
        (held("other", T0, duration=60), T0 + dt.timedelta(seconds=30), LeaseAction.FOLLOW, None),
        (held(None, T0), T0, LeaseAction.TAKE_OVER, 3),  # released
        ({"holderIdentity": "other"}, T0, LeaseAction.TAKE_OVER, 1),  # never renewed
    ],
)
def test_decision_table(spec: dict[str, Any] | None, now: dt.datetime, action: LeaseAction,
                        transitions: int | None) -> None:
    d = decide_leadership(spec, "me", now, 15)
    assert d.action is action
    if transitions is None:
        assert d.spec is None
        assert not d.leads
    else:
        assert d.spec is not None
        assert d.spec["holderIdentity"] == "me"
        assert d.spec["renewTime"] == micro_time(now)
        assert d.spec["leaseTransitions"] == transitions
    if action is LeaseAction.TAKE_OVER:
        assert d.spec is not None
        assert d.spec["acquireTime"] == micro_time(now)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def wall(self) -> dt.datetime:
        return T0 + dt.timedelta(seconds=self.t)

    def mono(self) -> float:
        return self.t


def test_two_contenders_one_leads_and_the_other_takes_over_after_expiry() -> None:
    store, clock = MemoryObjects(), Clock()
    a = LeaderElector(store, "serinus", "serinus-leader", "a", duration_seconds=15, clock=clock.wall,
                      monotonic=clock.mono)
    b = LeaderElector(store, "serinus", "serinus-leader", "b", duration_seconds=15, clock=clock.wall,
                      monotonic=clock.mono)
    assert (a.tick(), b.tick()) == (True, False)
    clock.t = 5
    assert (a.tick(), b.tick()) == (True, False)
    # a stops renewing; b takes over once a's last renewal is a lease duration old, not before.
    clock.t = 19
    assert b.tick() is False
    assert a.is_leader()
    clock.t = 20
    assert not a.is_leader()
    assert b.tick() is True
    assert a.tick() is False
    lease = store.get(LEASE, "serinus", "serinus-leader")
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 1


def test_a_lost_race_follows_and_release_hands_over_at_once() -> None:
    store, clock = MemoryObjects(), Clock()
    a = LeaderElector(store, "ns", "l", "a", clock=clock.wall, monotonic=clock.mono)
    b = LeaderElector(store, "ns", "l", "b", clock=clock.wall, monotonic=clock.mono)
    assert a.tick()
    store.fail_next("replace", Conflict("stale", 409))  # another write got in between read and renew
    assert a.tick() is False
    assert not a.is_leader()
    assert a.tick()
    a.release()
    assert b.tick() is True
