"""A steady HTTP load through the mesh, counting answers by status and by the version that answered.

``python -m sandbox.traffic http://127.0.0.1:PORT --host podinfo.shop --rps 20 [--duration S]``
prints the running counts once a second as JSON lines.

From Python, :class:`TrafficGenerator` runs worker threads with one keep-alive connection each,
paced to the requested total rate (or unpaced when ``rps`` is None). :meth:`TrafficGenerator.window`
opens a :class:`TrafficWindow` that counts only requests *started* after it opened, so a measurement
taken after a configuration change holds no request routed under the previous configuration.
The answering version is read from the ``X-App-Version`` header, else from a JSON body's ``version``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

VERSION_HEADER = "X-App-Version"
UNKNOWN_VERSION = "unknown"


@dataclass(frozen=True)
class TrafficCounts:
    """A snapshot of counts: answers by status and by version, and requests that got no answer."""

    by_status: dict[int, int] = field(default_factory=dict)
    by_version: dict[str, int] = field(default_factory=dict)
    transport_errors: int = 0
    last_error: str | None = None

    @property
    def answered(self) -> int:
        """Requests that got an HTTP answer."""
        return sum(self.by_status.values())

    @property
    def total(self) -> int:
        """Requests completed, answered or not."""
        return self.answered + self.transport_errors

    @property
    def failed(self) -> int:
        """Requests without an answer or answered with a 5xx."""
        return self.transport_errors + sum(n for code, n in self.by_status.items() if code >= 500)

    def share(self, version: str) -> float:
        """Percentage of answered requests served by ``version``."""
        return 100.0 * self.by_version.get(version, 0) / self.answered if self.answered else 0.0


class _Tally:
    """Mutable counts guarded by the generator's lock."""

    def __init__(self) -> None:
        self.by_status: Counter[int] = Counter()
        self.by_version: Counter[str] = Counter()
        self.transport_errors = 0
        self.last_error: str | None = None

    def snapshot(self) -> TrafficCounts:
        return TrafficCounts(
            dict(self.by_status), dict(self.by_version), self.transport_errors, self.last_error
        )


class TrafficWindow:
    """Counts of the requests started while this window is open."""

    def __init__(self, generator: TrafficGenerator, tally: _Tally) -> None:
        self._generator = generator
        self._tally = tally

    def counts(self) -> TrafficCounts:
        """The counts so far."""
        with self._generator.lock:
            return self._tally.snapshot()

    def wait_for(self, requests: int, timeout: float = 60.0) -> TrafficCounts:
        """Block until ``requests`` have completed in this window; raise TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._generator.changed:
            while self._tally.snapshot().total < requests:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"only {self._tally.snapshot().total} of {requests} requests completed in {timeout}s"
                    )
                self._generator.changed.wait(timeout=min(left, 0.5))
            return self._tally.snapshot()

    def close(self) -> TrafficCounts:
        """Stop counting into this window; return its final counts."""
        return self._generator.close_window(self._tally)


class TrafficGenerator:
    """Sends GET ``path`` to ``url`` at ``rps`` requests per second in total (a context manager)."""

    def __init__(
        self,
        url: str,
        rps: float | None = 20.0,
        host: str | None = None,
        *,
        path: str = "/",
        concurrency: int = 2,
        timeout: float = 5.0,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
            raise ValueError(f"traffic URL must be http://HOST:PORT, got {url!r}")
        if rps is not None and rps <= 0:
            raise ValueError(f"rps must be positive (or None for unpaced), got {rps}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._address = (parsed.hostname, parsed.port)
        self.rps = rps
        self.host = host
        self.path = path
        self.concurrency = concurrency
        self.timeout = timeout
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self._total = _Tally()
        self._tallies: list[_Tally] = [self._total]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> TrafficGenerator:
        """Start the worker threads."""
        if self._threads:
            raise RuntimeError("traffic generator already started")
        self._stop.clear()
        begin = time.monotonic()
        for i in range(self.concurrency):
            thread = threading.Thread(target=self._worker, args=(begin, i), name=f"traffic-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> TrafficCounts:
        """Stop sending (in-flight requests finish) and return the total counts."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 1)
        self._threads = []
        return self.counts()

    def __enter__(self) -> TrafficGenerator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def counts(self) -> TrafficCounts:
        """Counts since start."""
        with self.lock:
            return self._total.snapshot()

    def window(self) -> TrafficWindow:
        """Open a window counting the requests started from now on."""
        tally = _Tally()
        with self.lock:
            self._tallies.append(tally)
        return TrafficWindow(self, tally)

    def close_window(self, tally: _Tally) -> TrafficCounts:
        """Detach a window's tally (see :meth:`TrafficWindow.close`)."""
        with self.lock:
            if tally in self._tallies and tally is not self._total:
                self._tallies.remove(tally)
            return tally.snapshot()

    def _worker(self, begin: float, index: int) -> None:
        interval = None if self.rps is None else self.concurrency / self.rps
        next_at = begin + (0.0 if interval is None else index * interval / self.concurrency)
        conn: http.client.HTTPConnection | None = None
        headers = {"Host": self.host} if self.host else {}
        while not self._stop.is_set():
            if interval is not None:
                delay = next_at - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                next_at = max(next_at + interval, time.monotonic() - interval)  # no burst after a stall
            with self.lock:
                targets = tuple(self._tallies)
            if conn is None:
                conn = http.client.HTTPConnection(*self._address, timeout=self.timeout)
            try:
                conn.request("GET", self.path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                status, version = response.status, _version_of(response, body)
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                if conn is not None:
                    conn.close()
                conn = None
                self._record(targets, None, None, f"{type(exc).__name__}: {exc}")
                continue
            self._record(targets, status, version, None)
        if conn is not None:
            conn.close()

    def _record(
        self, targets: tuple[_Tally, ...], status: int | None, version: str | None, error: str | None
    ) -> None:
        with self.changed:
            for tally in targets:
                if status is None:
                    tally.transport_errors += 1
                    tally.last_error = error
                else:
                    tally.by_status[status] += 1
                    tally.by_version[version or UNKNOWN_VERSION] += 1
            self.changed.notify_all()


def _version_of(response: http.client.HTTPResponse, body: bytes) -> str:
    header = response.getheader(VERSION_HEADER)
    if header:
        return header
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        data = json.loads(body)
        if isinstance(data, dict) and isinstance(data.get("version"), str):
            return str(data["version"])
    return UNKNOWN_VERSION


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sandbox.traffic``."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.traffic", description=__doc__.split("\n")[0])
    parser.add_argument("url", help="the mesh listener, e.g. http://127.0.0.1:10000")
    parser.add_argument("--host", help="Host header (selects the route), e.g. podinfo.shop")
    parser.add_argument("--path", default="/")
    parser.add_argument("--rps", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--duration", type=float, default=0.0, help="seconds to run; 0 runs until interrupted"
    )
    args = parser.parse_args(argv)
    try:
        generator = TrafficGenerator(
            args.url, args.rps, args.host, path=args.path, concurrency=args.concurrency
        )
    except ValueError as exc:
        parser.error(str(exc))
    deadline = time.monotonic() + args.duration if args.duration > 0 else None
    with generator:
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic())))
                counts = generator.counts()
                print(json.dumps({"by_status": counts.by_status, "by_version": counts.by_version,
                                  "transport_errors": counts.transport_errors}), flush=True)  # fmt: skip
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
