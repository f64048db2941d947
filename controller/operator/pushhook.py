"""Verifying Git push webhooks: GitHub, Gitea/Forgejo, GitLab and a generic HMAC-SHA256 header.

Pure: headers, body and secret in, a verdict out. Every comparison is constant-time. A request with
none of the known headers, a malformed signature or a wrong one is refused with a message that says
which, never which bytes differed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

MAX_BODY = 1 << 20  # 1 MiB

GENERIC_HEADER = "X-Serinus-Signature"
_HMAC_HEADERS = (
    ("X-Hub-Signature-256", "sha256="),  # GitHub (and Gitea, which also sends it)
    (GENERIC_HEADER, "sha256="),  # anything able to sign a body
    ("X-Gitea-Signature", ""),  # Gitea, Forgejo: bare hex
    ("X-Gogs-Signature", ""),
)
_TOKEN_HEADER = "X-Gitlab-Token"  # noqa: S105 - GitLab sends the shared secret itself


@dataclass(frozen=True)
class Verdict:
    """``ok`` or the reason the request is refused (for a 4xx answer)."""

    ok: bool
    reason: str = ""


def sign(body: bytes, secret: str) -> str:
    """The ``sha256=<hex>`` signature of ``body`` (what senders put in the header)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> Verdict:
    """Check the request's signature (or GitLab token) against ``secret``."""
    if not secret:
        return Verdict(False, "the push webhook secret is not configured on the controller")
    lowered = {k.lower(): v for k, v in headers.items()}
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    for header, prefix in _HMAC_HEADERS:
        value = lowered.get(header.lower())
        if value is None:
            continue
        value = value.strip()
        if prefix and not value.startswith(prefix):
            return Verdict(False, f"{header} must look like {prefix}<hex digest>")
        digest = value[len(prefix):]
        if hmac.compare_digest(digest.lower().encode(), expected.encode()):
            return Verdict(True)
        return Verdict(False, f"{header} does not match the body")
    token = lowered.get(_TOKEN_HEADER.lower())
    if token is not None:
        if hmac.compare_digest(token.encode(), secret.encode()):
            return Verdict(True)
        return Verdict(False, f"{_TOKEN_HEADER} is wrong")
    known = ", ".join([h for h, _ in _HMAC_HEADERS] + [_TOKEN_HEADER])
    return Verdict(False, f"no signature header; expected one of {known}")
