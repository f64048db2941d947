"""The operator's HTTP sides, against real sockets on 127.0.0.1.

Pins: the webhook caller POSTs Flagger's JSON payload, treats only 2xx as success, gives up after the
webhook's timeout, makes exactly ``retries`` extra attempts after transport errors (a dropped or refused
connection, a timeout; none by default) and never retries an HTTP answer; the endpoint serves
/metrics, /healthz, /readyz, and the push webhook accepts only a correctly signed body of at most
1 MiB for an existing Canary.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from controller.core.spec import WebhookSpec, WebhookType
from controller.gitops.webhook import verify
from controller.operator.metrics import OperatorMetrics
from controller.operator.ports import WebhookCall
from controller.operator.server import Endpoints, HttpServer
from controller.operator.webhooks import HttpWebhookCaller


class Hooks:
    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        self.status = 200
        self.delay = 0.0
        self.drops = 0  # connections to reset before reading the request
        self.connections = 0


@pytest.fixture
def hooks() -> Iterator[tuple[Hooks, str]]:
    state = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def handle(self) -> None:
            state.connections += 1
            if state.drops > 0:
                state.drops -= 1
                # linger 0: closing sends a reset, the client sees a transport error, not an answer
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            super().handle()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.bodies.append(json.loads(body))
            time.sleep(state.delay)
            self.send_response(state.status)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"nope")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def call(url: str, timeout: float = 2.0, retries: int = 0) -> WebhookCall:
    hook = WebhookSpec(name="gate", type=WebhookType.CONFIRM_ROLLOUT, url=url, timeout=timeout,
                       retries=retries)
    return WebhookCall(hook, {"name": "podinfo", "namespace": "shop", "phase": "Waiting",
                              "revision": "img:2", "metadata": {"a": "b"}})


def test_webhook_2xx_is_success_and_payload_is_json(hooks: tuple[Hooks, str]) -> None:
    state, url = hooks
    assert HttpWebhookCaller().call(call(url)).ok
    assert state.bodies == [{"name": "podinfo", "namespace": "shop", "phase": "Waiting", "revision": "img:2",
                             "metadata": {"a": "b"}}]


def test_webhook_non_2xx_fails_with_status_and_is_not_retried(hooks: tuple[Hooks, str]) -> None:
    state, url = hooks
    state.status = 403
    reply = HttpWebhookCaller(backoff=0.01).call(call(url, retries=3))
    assert not reply.ok and reply.message == "HTTP 403: nope"
    assert len(state.bodies) == 1
    state.status = 503
    reply = HttpWebhookCaller(backoff=0.01).call(call(url, retries=3))
    assert not reply.ok and reply.message == "HTTP 503: nope"
    assert len(state.bodies) == 2


def test_webhook_timeout_fails_and_is_retried_as_often_as_asked(hooks: tuple[Hooks, str]) -> None:
    state, url = hooks
    state.delay = 1.0
    reply = HttpWebhookCaller(backoff=0.01).call(call(url, timeout=0.2, retries=1))
    assert not reply.ok and reply.message == "no answer within 0.2s after 2 attempts"
    assert len(state.bodies) == 2


def test_webhook_dropped_connections_are_retried_up_to_retries(hooks: tuple[Hooks, str]) -> None:
    state, url = hooks
    state.drops = 2
    assert HttpWebhookCaller(backoff=0.01).call(call(url, retries=2)).ok
    assert state.connections == 3 and len(state.bodies) == 1
    state.drops, state.connections = 2, 0
    reply = HttpWebhookCaller(backoff=0.01).call(call(url, retries=1))
    assert not reply.ok and reply.message.endswith("after 2 attempts: ConnectionError")
    assert state.connections == 2 and len(state.bodies) == 1


def test_webhook_without_retries_makes_one_attempt(hooks: tuple[Hooks, str]) -> None:
    state, url = hooks
    state.drops = 1
    reply = HttpWebhookCaller(backoff=0.01).call(call(url))
    assert not reply.ok and reply.message.endswith("after 1 attempt: ConnectionError")
    assert state.connections == 1 and state.bodies == []


def test_webhook_refused_connection_is_retried_then_fails() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reply = HttpWebhookCaller(backoff=0.01).call(call(f"http://127.0.0.1:{port}/", retries=2))
    assert not reply.ok
    assert reply.message == f"cannot reach http://127.0.0.1:{port}/ after 3 attempts: ConnectionError"


def sign(body: bytes, secret: str) -> str:
    """The ``sha256=<hex>`` signature a sender puts in the header."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_signature_verification() -> None:
    body = b'{"ref": "refs/heads/main"}'
    assert verify({"X-Hub-Signature-256": sign(body, "s3")}, body, b"s3").accepted
    assert verify({"X-Gitea-Signature": sign(body, "s3").removeprefix("sha256=")}, body, b"s3").accepted
    assert verify({"X-Gogs-Signature": sign(body, "s3").removeprefix("sha256=")}, body, b"s3").accepted
    assert verify({"X-Gitlab-Token": "s3"}, body, b"s3").accepted
    assert not verify({"X-Hub-Signature-256": sign(body, "other")}, body, b"s3").accepted
    assert verify({"X-Hub-Signature-256": "abc"}, body, b"s3").status == 400
    assert "no signature header" in verify({}, body, b"s3").reason
    assert verify({"X-Hub-Signature-256": sign(body, "")}, body, b"").status == 403


def _request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, str]:
    method = "POST" if data is not None else "GET"
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_endpoint_serves_metrics_health_and_push_hooks() -> None:
    triggered: list[tuple[str, str]] = []
    ready = threading.Event()
    metrics = OperatorMetrics()
    metrics.git_operation("declared", "ok")

    def trigger(namespace: str, name: str) -> bool:
        triggered.append((namespace, name))
        return name == "podinfo"

    server = HttpServer(Endpoints(metrics, trigger, lambda: "s3", ready), 0, host="127.0.0.1").start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert _request(base + "/healthz")[0] == 200
        assert _request(base + "/readyz")[0] == 503
        ready.set()
        assert _request(base + "/readyz")[0] == 200
        code, text = _request(base + "/metrics")
        assert code == 200 and 'serinus_git_operations_total{op="declared",result="ok"} 1.0' in text
        body = b"{}"
        good = {"X-Hub-Signature-256": sign(body, "s3"), "Content-Type": "application/json"}
        assert _request(base + "/hooks/git/shop/podinfo", body, good)[0] == 202
        assert _request(base + "/hooks/git/shop/absent", body, good)[0] == 404
        bad = {"X-Hub-Signature-256": sign(body, "wrong")}
        assert _request(base + "/hooks/git/shop/podinfo", body, bad)[0] == 401
        assert _request(base + "/hooks/git/Shop/../x", body, good)[0] == 404
        # A body over 1 MiB is refused from its Content-Length, before any of it is read.
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.putrequest("POST", "/hooks/git/shop/podinfo")
        conn.putheader("Content-Length", str((1 << 20) + 1))
        conn.endheaders()
        assert conn.getresponse().status == 413
        conn.close()
        assert triggered == [("shop", "podinfo"), ("shop", "absent")]
    finally:
        server.stop()
