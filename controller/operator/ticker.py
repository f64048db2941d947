"""The fixed tick per Canary, scheduled by Serinus rather than by a kopf timer.

Why not ``@kopf.timer``: kopf adds its own finalizer to every object a timer (or daemon, or mandatory
``on.delete`` handler) is bound to, on whichever replica sees the object first, and stops timers once
the object is being deleted. A follower must write nothing (DESIGN section 8), and the Terminating
flow must run until the core says ``Finalize``. So kopf only watches Canaries (``on.event``, which
writes nothing) and tells the ``Ticker`` which exist; the ``Ticker`` runs ``tick(namespace, name)`` for
each of them every ``interval`` seconds on every replica (the reconciler returns at once on a
follower, so a follower that becomes the leader already ticks every Canary, deleted ones included).

``Schedule`` is the bookkeeping (which Canary is due when; never two ticks of one Canary at once),
pure and driven by the caller's clock; ``Ticker`` runs it with one scheduling thread and a bounded
pool of workers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("serinus.ticker")

Key = tuple[str, str]  # (namespace, name)


class Schedule:
    """When each tracked Canary is due; a Canary being ticked is not due again until its tick ends."""

    def __init__(self, interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"the tick interval must be positive, got {interval}")
        self.interval = interval
        self._due: dict[Key, float] = {}
        self._running: set[Key] = set()
        self._renewed: set[Key] = set()  # tracked again while its tick ran (e.g. deleted and re-created)

    def track(self, key: Key, now: float) -> None:
        """A Canary exists: due at once when new, else unchanged."""
        if key in self._running:
            self._renewed.add(key)
        self._due.setdefault(key, now)

    def untrack(self, key: Key) -> None:
        """The Canary is gone: no more ticks (a tick under way finishes)."""
        self._due.pop(key, None)
        self._renewed.discard(key)

    def tracked(self) -> set[Key]:
        """Every Canary tracked."""
        return set(self._due)

    def take_due(self, now: float) -> list[Key]:
        """The Canaries due at ``now``, marked running (sorted, for a stable order)."""
        due = sorted(k for k, at in self._due.items() if at <= now and k not in self._running)
        self._running.update(due)
        return due

    def finished(self, key: Key, now: float, keep: bool = True) -> None:
        """A tick of ``key`` ended: due again an interval later, or dropped when ``keep`` is False
        (the Canary was not found), unless it was tracked again meanwhile (then due at once)."""
        self._running.discard(key)
        if key not in self._due:
            return
        if key in self._renewed:
            self._due[key] = now
        elif keep:
            self._due[key] = now + self.interval
        else:
            del self._due[key]
        self._renewed.discard(key)

    def next_due(self) -> float | None:
        """The earliest time a Canary not being ticked is due, or None."""
        waiting = [at for k, at in self._due.items() if k not in self._running]
        return min(waiting) if waiting else None


class Ticker:
    """Runs ``tick(namespace, name) -> keep`` for every tracked Canary every ``interval`` seconds.

    ``tick`` returns False when the Canary no longer exists (it is then dropped); an exception is
    logged and the Canary ticks again an interval later.
    """

    def __init__(self, tick: Callable[[str, str], bool], interval: float, *, workers: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._tick = tick
        self._schedule = Schedule(interval)
        self._clock = clock
        self._cond = threading.Condition()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="serinus-tick")
        self._stopping = False
        self._thread: threading.Thread | None = None

    def track(self, namespace: str, name: str) -> None:
        """Tick this Canary (at once if it is new)."""
        with self._cond:
            self._schedule.track((namespace, name), self._clock())
            self._cond.notify()

    def untrack(self, namespace: str, name: str) -> None:
        """Stop ticking this Canary."""
        with self._cond:
            self._schedule.untrack((namespace, name))

    def tracked(self) -> set[Key]:
        """Every Canary tracked, as ``(namespace, name)``."""
        with self._cond:
            return self._schedule.tracked()

    def start(self) -> None:
        """Start the scheduling thread."""
        self._thread = threading.Thread(target=self._loop, name="serinus-ticker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop scheduling and wait for the ticks under way."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        with self._cond:
            while not self._stopping:
                now = self._clock()
                for key in self._schedule.take_due(now):
                    self._pool.submit(self._run, key)
                at = self._schedule.next_due()
                self._cond.wait(None if at is None else max(0.0, at - self._clock()))

    def _run(self, key: Key) -> None:
        keep = True
        try:
            keep = self._tick(*key)
        except Exception as exc:  # one Canary's fault must not stop the others' ticks
            log.warning("tick failed: %s", exc, extra={"canary": f"{key[0]}/{key[1]}", "error": str(exc)})
        finally:
            with self._cond:
                self._schedule.finished(key, self._clock(), keep)
                self._cond.notify()
