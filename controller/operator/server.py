"""The operator's HTTP endpoint: ``/metrics``, ``/healthz``, ``/readyz`` and ``POST /hooks/git/<ns>/<name>``.

A small threaded HTTP server (standard library) on its own thread, so that a slow scrape or webhook
never blocks kopf's event loop. The push webhook's body is capped at 1 MiB, its signature is checked
(`controller.gitops.webhook`) before anything else happens, and a valid push triggers detection
for that Canary at once (202); an unknown Canary is a 404, a bad signature a 401.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from controller.gitops.webhook import MAX_BODY, verify
from controller.operator.metrics import OperatorMetrics

log = logging.getLogger("serinus.http")

_HOOK = re.compile(r"\A/hooks/git/([a-z0-9]([-a-z0-9]*[a-z0-9])?)/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)/?\Z")

Trigger = Callable[[str, str], bool]
"""Start detection for ``(namespace, name)`` now; False when there is no such Canary."""


@dataclass
class Endpoints:
    """What the server answers from: metrics, readiness, the webhook secret and the trigger."""

    metrics: OperatorMetrics
    trigger: Trigger
    secret: Callable[[], str]
    ready: threading.Event
    healthy: Callable[[], bool] = lambda: True


def _handler(endpoints: Endpoints) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "serinus"
        sys_version = ""

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _answer(self, code: int, text: str, ctype: str = "text/plain; charset=utf-8") -> None:
            self._send(code, text.encode(), ctype)

        def _send(self, code: int, data: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, endpoints.metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
            elif path == "/healthz":
                ok = endpoints.healthy()
                self._answer(200 if ok else 503, "ok\n" if ok else "unhealthy\n")
            elif path == "/readyz":
                ready = endpoints.ready.is_set()
                self._answer(200 if ready else 503, "ready\n" if ready else "starting\n")
            else:
                self._answer(404, "not found\n")

        def do_POST(self) -> None:
            match = _HOOK.match(self.path.split("?", 1)[0])
            if match is None:
                self._answer(404, "not found: POST /hooks/git/<namespace>/<name>\n")
                return
            namespace, name = match.group(1), match.group(3)
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self._answer(411, "Content-Length is required\n")
                return
            if length < 0 or length > MAX_BODY:
                self._answer(413, f"body larger than {MAX_BODY} bytes\n")
                return
            body = self.rfile.read(length)
            verdict = verify(dict(self.headers.items()), body, endpoints.secret().encode())
            if not verdict.accepted:
                log.warning("push webhook for %s/%s refused: %s", namespace, name, verdict.reason,
                            extra={"canary": f"{namespace}/{name}"})
                self._answer(verdict.status, verdict.reason + "\n")
                return
            if not endpoints.trigger(namespace, name):
                self._answer(404, f"no Canary {namespace}/{name}\n")
                return
            self._answer(202, f"detection started for {namespace}/{name}\n")

    return Handler


class HttpServer:
    """The endpoint server on ``host:port`` (port 0 picks a free one; see ``port`` after ``start``)."""

    def __init__(self, endpoints: Endpoints, port: int, host: str = "0.0.0.0") -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(endpoints))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="serinus-http", daemon=True)

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    def start(self) -> HttpServer:
        """Serve in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
