"""A counting reverse proxy in front of the API emulator: give one `serinus run` a kubeconfig naming
the proxy, and every request of that process (the `kubernetes` client's and kopf's alike, watch
streams included) passes through it, forwarded unchanged and recorded with its verb, path, answer
status and, for writes (the non-GET verbs), its body."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_HOP = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "upgrade",
        "proxy-connection",
        "te",
        "trailer",
    }
)


@dataclass(frozen=True)
class Request:
    """One request that went through a proxy."""

    method: str
    path: str
    status: int
    body: bytes = b""

    @property
    def write(self) -> bool:
        """A mutating verb."""
        return self.method in WRITES

    @property
    def on_lease(self) -> bool:
        """Addressed to the coordination.k8s.io Leases."""
        return self.path.startswith("/apis/coordination.k8s.io/")


class CountingProxy:
    """A reverse proxy to ``upstream`` on a free loopback port, recording every request (thread-safe).

    For an HTTPS upstream (the real API server) give its CA, and the bearer token to send in place of
    the client's: the process behind the proxy then needs a plain kubeconfig naming the proxy only."""

    def __init__(self, upstream: str, *, ca: Path | None = None, token: str | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.ca = ca
        self.token = token
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._main(),), name="counting-proxy", daemon=True
        )
        self.url = ""

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        tls = ssl.create_default_context(cafile=str(self.ca)) if self.ca is not None else None
        session = aiohttp.ClientSession(
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None),
            connector=aiohttp.TCPConnector(ssl=tls) if tls is not None else None,
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)

        async def forward(request: web.Request) -> web.StreamResponse:
            return await self._forward(session, request)

        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        await self._stopped.wait()
        await runner.cleanup()
        await session.close()

    async def _forward(self, session: aiohttp.ClientSession, request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        if self.token is not None:
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            headers["Authorization"] = f"Bearer {self.token}"
        body = await request.read()
        # No Content-Type (the kubernetes client sends none on some creates): forward none either.
        skip = () if "Content-Type" in request.headers else ("Content-Type",)
        async with session.request(
            request.method,
            self.upstream + str(request.rel_url),
            headers=headers,
            data=body or None,
            allow_redirects=False,
            skip_auto_headers=skip,
        ) as answer:
            with self._lock:
                self.requests.append(
                    Request(
                        request.method,
                        request.rel_url.path,
                        answer.status,
                        body if request.method in WRITES else b"",
                    )
                )
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
            out = web.StreamResponse(status=answer.status, reason=answer.reason, headers=kept)
            await out.prepare(request)
            with contextlib.suppress(ConnectionResetError):  # the client went away (e.g. a stopped replica)
                async for chunk in answer.content.iter_any():  # watch streams pass through as they come
                    await out.write(chunk)
                await out.write_eof()
            return out

    def start(self) -> CountingProxy:
        """Serve in a daemon thread; returns once the port is bound."""
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the counting proxy did not start")
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(10)

    def seen(self) -> list[Request]:
        """Every request so far."""
        with self._lock:
            return list(self.requests)

    def writes(self) -> list[Request]:
        """The write requests so far."""
        return [r for r in self.seen() if r.write]
