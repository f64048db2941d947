"""The wake-up loop of a level-triggered controller: one reconcile pass per wake-up or timer tick.

A controller's watch handlers call :meth:`PassLoop.wake`; the loop's daemon thread runs the pass soon
after (optionally after a short settle, so a burst of events is one pass) and at least once per
``period``. A pass that raises is logged and the loop goes on, as one bad pass must not stop a
controller.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable


class PassLoop:
    """Runs ``run_pass`` in a daemon thread on every :meth:`wake` and every ``period`` seconds.

    ``name`` names the thread and, in ``log``, a pass that failed."""

    def __init__(
        self,
        name: str,
        run_pass: Callable[[], None],
        log: logging.Logger,
        *,
        period: float,
        settle: float = 0.0,
        join_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.run_pass = run_pass
        self.log = log
        self.period = period
        self.settle = settle
        self.join_timeout = join_timeout
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Run a pass soon."""
        self._wake.set()

    def start(self) -> None:
        """Run passes in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the pass under way (waiting at most ``join_timeout`` for it)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.join_timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.period)
            if self._stop.is_set():
                return
            if self.settle > 0:
                self._stop.wait(self.settle)  # let a burst of events land first
            self._wake.clear()
            try:
                self.run_pass()
            except Exception:  # one bad pass must not stop the controller
                self.log.exception("%s pass failed", self.name)
