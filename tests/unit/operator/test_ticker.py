"""The per-Canary tick schedule that replaces kopf's timer.

Pins (``Schedule``, on a clock the test drives): a new Canary is due at once, then an interval after
its tick ends; one Canary is never ticked twice at once; an untracked Canary is not ticked again; a
tick that finds the Canary gone drops it, unless it was tracked again meanwhile (deleted and
re-created), which makes it due at once. ``Ticker`` (real threads): every tracked Canary is ticked,
and a failing tick neither stops the others nor drops its Canary.
"""

from __future__ import annotations

import threading

import pytest

from controller.operator.ticker import Schedule, Ticker

A, B = ("shop", "a"), ("shop", "b")


def test_new_canaries_are_due_at_once_then_an_interval_after_their_tick() -> None:
    s = Schedule(2.0)
    s.track(A, now=10.0)
    s.track(B, now=11.0)
    assert s.take_due(10.5) == [A]
    assert s.take_due(11.0) == [B]
    s.finished(A, now=12.0)
    assert s.take_due(13.9) == [] and s.next_due() == 14.0
    s.track(A, now=13.0)  # a MODIFIED event does not move its tick
    assert s.take_due(14.0) == [A]


def test_a_canary_being_ticked_is_not_due_again() -> None:
    s = Schedule(1.0)
    s.track(A, now=0.0)
    assert s.take_due(0.0) == [A]
    assert s.take_due(100.0) == [] and s.next_due() is None
    s.finished(A, now=100.0)
    assert s.take_due(101.0) == [A]


def test_untracked_and_gone_canaries_are_dropped() -> None:
    s = Schedule(1.0)
    s.track(A, now=0.0)
    s.track(B, now=0.0)
    assert s.take_due(0.0) == [A, B]
    s.untrack(A)
    s.finished(A, now=1.0)
    s.finished(B, now=1.0, keep=False)
    assert s.tracked() == set() and s.take_due(50.0) == []


def test_a_canary_recreated_during_its_tick_is_due_at_once() -> None:
    s = Schedule(5.0)
    s.track(A, now=0.0)
    assert s.take_due(0.0) == [A]
    s.untrack(A)  # DELETED ...
    s.track(A, now=0.5)  # ... and ADDED again while the old tick runs
    s.finished(A, now=1.0, keep=False)  # the old tick found nothing
    assert s.take_due(1.0) == [A]


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Schedule(0)


def test_the_ticker_ticks_every_tracked_canary_and_survives_a_failing_tick() -> None:
    seen: dict[tuple[str, str], int] = {}
    enough = threading.Event()
    lock = threading.Lock()

    def tick(namespace: str, name: str) -> bool:
        with lock:
            seen[(namespace, name)] = seen.get((namespace, name), 0) + 1
            if all(seen.get(k, 0) >= 3 for k in (A, B)):
                enough.set()
        if name == "a":
            raise RuntimeError("the API server is unreachable")
        return True

    ticker = Ticker(tick, 0.01, workers=2)
    ticker.start()
    try:
        ticker.track(*A)
        ticker.track(*B)
        assert enough.wait(30), seen
    finally:
        ticker.stop()
    assert ticker.tracked() == {A, B}  # the failing Canary is still scheduled
