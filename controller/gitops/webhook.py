"""Push webhook receiver: signature verification (pure) and a small aiohttp app to mount it.

Accepted signatures, checked in this order (the first header present decides):

* generic: ``X-Serinus-Signature: sha256=<hex HMAC-SHA256 of the body>``
* GitHub:  ``X-Hub-Signature-256: sha256=<hex>`` (the SHA-1 ``X-Hub-Signature`` alone is refused)
* Gitea/Forgejo/Gogs: ``X-Gitea-Signature`` / ``X-Forgejo-Signature`` / ``X-Gogs-Signature: <hex>``
* GitLab:  ``X-Gitlab-Token: <shared secret>``

Every comparison is constant-time (``hmac.compare_digest``); bodies over 1 MiB are refused with 413.
The verdict is a value: accepted (202) or rejected with a 4xx status and a reason safe to return.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

MAX_BODY = 1024 * 1024
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class WebhookVerdict:
    """``accepted`` with status 202, or rejected with a 4xx ``status`` and a ``reason``."""

    accepted: bool
    status: int
    reason: str
    provider: str = ""


def _reject(status: int, reason: str, provider: str = "") -> WebhookVerdict:
    return WebhookVerdict(False, status, reason, provider)


def _hmac_hex(secret: bytes, body: bytes, given: str, header: str, provider: str) -> WebhookVerdict:
    if not _HEX64.match(given):
        return _reject(400, f"{header} is not a hex SHA-256 digest", provider)
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if hmac.compare_digest(expected.encode(), given.lower().encode()):
        return WebhookVerdict(True, 202, "signature valid", provider)
    return _reject(401, f"{header} does not match the body", provider)


def _prefixed(secret: bytes, body: bytes, value: str, header: str, provider: str) -> WebhookVerdict:
    algorithm, sep, digest = value.partition("=")
    if not sep:
        return _reject(400, f"{header} must be sha256=<hex>", provider)
    if algorithm.strip().lower() != "sha256":
        return _reject(400, f"{header} uses {algorithm.strip()!r}; only sha256 is accepted", provider)
    return _hmac_hex(secret, body, digest.strip(), header, provider)


def verify(headers: Mapping[str, str], body: bytes, secret: bytes) -> WebhookVerdict:
    """Check a push webhook's signature over ``body`` with the Canary's shared ``secret``."""
    if len(body) > MAX_BODY:
        return _reject(413, f"body larger than {MAX_BODY} bytes")
    if not secret:
        return _reject(403, "no webhook secret is configured for this Canary")
    lower = {k.lower(): v for k, v in headers.items()}
    if "x-serinus-signature" in lower:
        return _prefixed(secret, body, lower["x-serinus-signature"], "X-Serinus-Signature", "generic")
    if "x-hub-signature-256" in lower:
        return _prefixed(secret, body, lower["x-hub-signature-256"], "X-Hub-Signature-256", "github")
    for header, provider in (
        ("x-gitea-signature", "gitea"),
        ("x-forgejo-signature", "forgejo"),
        ("x-gogs-signature", "gogs"),
    ):
        if header in lower:
            return _hmac_hex(secret, body, lower[header].strip(), header.title(), provider)
    if "x-gitlab-token" in lower:
        if hmac.compare_digest(lower["x-gitlab-token"].encode(), secret):
            return WebhookVerdict(True, 202, "token valid", "gitlab")
        return _reject(401, "X-Gitlab-Token does not match", "gitlab")
    if "x-hub-signature" in lower:
        return _reject(400, "X-Hub-Signature (SHA-1) is not accepted; configure a SHA-256 secret", "github")
    return _reject(
        401,
        "no signature header (X-Serinus-Signature, X-Hub-Signature-256, X-Gitea-Signature, X-Gitlab-Token)",
    )


SecretLookup = Callable[[str, str], bytes | None]
PushHandler = Callable[[str, str], Awaitable[None] | None]


def make_webhook_app(lookup_secret: SecretLookup, on_push: PushHandler) -> web.Application:
    """An aiohttp app serving ``POST /hooks/git/{namespace}/{name}``.

    ``lookup_secret(namespace, name)`` returns the Canary's webhook secret, or None when there is no
    such Canary (404). ``on_push(namespace, name)`` (plain or async) is called for an accepted push;
    the operator makes it trigger detection for that Canary at once.
    """

    async def handle(request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.json_response({"error": f"body larger than {MAX_BODY} bytes"}, status=413)
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return web.json_response({"error": f"body larger than {MAX_BODY} bytes"}, status=413)
        secret = lookup_secret(namespace, name)
        if secret is None:
            return web.json_response({"error": f"no Canary {namespace}/{name} with a git source"}, status=404)
        verdict = verify(request.headers, body, secret)
        if not verdict.accepted:
            return web.json_response({"error": verdict.reason}, status=verdict.status)
        outcome = on_push(namespace, name)
        if inspect.isawaitable(outcome):
            await outcome
        return web.json_response(
            {"accepted": f"{namespace}/{name}", "provider": verdict.provider}, status=202
        )

    app = web.Application(client_max_size=MAX_BODY + 1)
    app.router.add_post("/hooks/git/{namespace}/{name}", handle)
    return app
