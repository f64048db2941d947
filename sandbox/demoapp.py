"""The sandbox's demo application: a small podinfo-like HTTP service with Prometheus metrics.

``python -m sandbox.demoapp --port P --version TAG [--error-rate R] [--latency-ms L] [--ready-after-ms D]``

- ``GET /`` answers ``{"version": TAG, ...}`` with header ``X-App-Version: TAG``; a share ``R`` of the
  answers are HTTP 500 (they carry the version too, so a caller can attribute errors).
- ``GET /healthz`` is the readiness probe: 503 until ``--ready-after-ms`` has elapsed, then 200.
- ``GET /metrics`` is Prometheus text: ``http_requests_total{code}`` and the
  ``http_request_duration_seconds`` histogram.

Errors are deterministic rather than random: request ``n`` (counting from 1) fails when
``floor(n * R)`` grows, so every window of ``k`` requests holds ``k * R`` errors, rounded.
On SIGTERM the server stops accepting, answers in-flight requests, and exits (bounded by 5 seconds).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

VERSION_HEADER = "X-App-Version"
_DRAIN_SECONDS = 5.0


class ErrorSchedule:
    """Decides which requests fail so that exactly ``rate`` of them do, spread evenly (thread-safe)."""

    def __init__(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"error rate must be between 0 and 1, got {rate}")
        self._rate = rate
        self._count = 0
        self._lock = threading.Lock()

    def next_fails(self) -> bool:
        """Whether the next request is one of the failing share."""
        with self._lock:
            self._count += 1
            n = self._count
        return math.floor(n * self._rate + 1e-9) > math.floor((n - 1) * self._rate + 1e-9)


class DemoApp:
    """State shared by the request handlers: settings, metrics and in-flight accounting."""

    def __init__(self, version: str, error_rate: float, latency_ms: float, ready_after_ms: float) -> None:
        self.version = version
        self.latency_s = latency_ms / 1000.0
        self.errors = ErrorSchedule(error_rate)
        self.ready_at = time.monotonic() + ready_after_ms / 1000.0
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total", "HTTP requests answered, by status code", ["code"], registry=self.registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.stopping = threading.Event()
        self._in_flight = 0
        self._idle = threading.Condition()

    def enter(self) -> None:
        """Count one request in flight."""
        with self._idle:
            self._in_flight += 1

    def leave(self) -> None:
        """Count one request done."""
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> None:
        """Wait until no request is in flight, at most ``timeout`` seconds."""
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)


def make_handler(app: DemoApp) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``app``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a proxy's connection pool expects
        # one write per response and no Nagle: split writes would meet delayed ACKs (~40 ms per request)
        wbufsize = 64 * 1024
        disable_nagle_algorithm = True
        server_version = "sandbox-demoapp"

        def do_GET(self) -> None:
            app.enter()
            try:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    ready = time.monotonic() >= app.ready_at and not app.stopping.is_set()
                    self._send(200 if ready else 503, b"ok\n" if ready else b"not ready\n", "text/plain")
                elif path == "/metrics":
                    self._send(200, generate_latest(app.registry), CONTENT_TYPE_LATEST)
                else:
                    self._serve_app()
            finally:
                app.leave()

        def _serve_app(self) -> None:
            started = time.perf_counter()
            if app.latency_s > 0:
                time.sleep(app.latency_s)
            code = 500 if app.errors.next_fails() else 200
            body = {"version": app.version, "message": "greetings from the sandbox demo app"}
            if code == 500:
                body["error"] = "injected failure"
            self._send(code, (json.dumps(body) + "\n").encode(), "application/json")
            app.requests.labels(code=str(code)).inc()
            app.duration.observe(time.perf_counter() - started)

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header(VERSION_HEADER, app.version)
            if app.stopping.is_set():
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Access logs are silent: the metrics are the record."""

    return Handler


def serve(port: int, app: DemoApp, host: str = "127.0.0.1") -> None:
    """Serve until SIGTERM/SIGINT, then drain in-flight requests and return."""
    server = ThreadingHTTPServer((host, port), make_handler(app))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        app.stopping.set()
        # shutdown() blocks until serve_forever returns, so it must not run on the serving thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        app.wait_idle(_DRAIN_SECONDS)
        server.server_close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sandbox.demoapp``."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.demoapp", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", required=True, help="the version this instance reports")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of / answered with 500")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every / request")
    parser.add_argument("--ready-after-ms", type=float, default=0.0, help="delay before /healthz says ready")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if not 0.0 <= args.error_rate <= 1.0:
        parser.error(f"--error-rate must be between 0 and 1, got {args.error_rate}")
    if args.latency_ms < 0 or args.ready_after_ms < 0:
        parser.error("--latency-ms and --ready-after-ms must not be negative")
    disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series are noise for the sandbox's queries
    app = DemoApp(args.version, args.error_rate, args.latency_ms, args.ready_after_ms)
    serve(args.port, app, args.host)
    return 0


if __name__ == "__main__":
    sys.exit(main())
