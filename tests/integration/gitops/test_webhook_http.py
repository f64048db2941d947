"""The webhook app over real HTTP: a signed push triggers ``on_push``; anything wrong gets a clear 4xx."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import aiohttp
import pytest
from aiohttp import web

from controller.gitops.webhook import MAX_BODY, make_webhook_app

pytestmark = pytest.mark.integration
SECRET = b"s3cret"


async def exercise() -> tuple[list[tuple[str, str]], list[tuple[int, str]]]:
    pushed: list[tuple[str, str]] = []

    async def on_push(namespace: str, name: str) -> None:
        pushed.append((namespace, name))

    app = make_webhook_app(lambda ns, name: SECRET if (ns, name) == ("shop", "podinfo") else None, on_push)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}/hooks/git"
    body = b'{"ref": "refs/heads/main"}'
    sig = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    results: list[tuple[int, str]] = []
    try:
        async with aiohttp.ClientSession() as http:
            for url, data, headers in [
                (f"{base}/shop/podinfo", body, {"X-Hub-Signature-256": sig}),
                (f"{base}/shop/podinfo", body + b"x", {"X-Hub-Signature-256": sig}),
                (f"{base}/shop/podinfo", body, {}),
                (f"{base}/shop/unknown", body, {"X-Hub-Signature-256": sig}),
                (f"{base}/shop/podinfo", b"x" * (MAX_BODY + 10), {"X-Hub-Signature-256": sig}),
            ]:
                async with http.post(url, data=data, headers=headers) as response:
                    results.append((response.status, await response.text()))
            async with http.get(f"{base}/shop/podinfo") as response:
                results.append((response.status, ""))
    finally:
        await runner.cleanup()
    return pushed, results


def test_webhook_app_over_http() -> None:
    pushed, results = asyncio.run(exercise())
    assert pushed == [("shop", "podinfo")]
    statuses = [status for status, _ in results]
    assert statuses == [202, 401, 401, 404, 413, 405]
    assert "github" in results[0][1]
    assert "does not match the body" in results[1][1]
    assert "no Canary shop/unknown" in results[3][1]
