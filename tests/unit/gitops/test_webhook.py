"""Webhook signatures: every provider's good signature is accepted; bad, missing, malformed, oversized,
SHA-1 or non-sha256 signatures are rejected with the documented 4xx status and a reason."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from controller.gitops.webhook import MAX_BODY, verify

SECRET = b"webhook-secret"
BODY = b'{"ref": "refs/heads/main", "after": "9f1c"}'
GOOD = hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("headers", "provider"),
    [
        ({"X-Serinus-Signature": f"sha256={GOOD}"}, "generic"),
        ({"X-Hub-Signature-256": f"sha256={GOOD}"}, "github"),
        ({"x-hub-signature-256": f"sha256={GOOD.upper()}"}, "github"),
        ({"X-Gitea-Signature": GOOD}, "gitea"),
        ({"X-Forgejo-Signature": GOOD}, "forgejo"),
        ({"X-Gitlab-Token": SECRET.decode()}, "gitlab"),
    ],
)
def test_good_signatures_are_accepted(headers: dict[str, str], provider: str) -> None:
    verdict = verify(headers, BODY, SECRET)
    assert (verdict.accepted, verdict.status, verdict.provider) == (True, 202, provider)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Serinus-Signature": f"sha256={GOOD}"},
        {"X-Hub-Signature-256": f"sha256={GOOD}"},
        {"X-Gitea-Signature": GOOD},
    ],
)
def test_a_changed_body_or_secret_is_rejected(headers: dict[str, str]) -> None:
    assert verify(headers, BODY + b" ", SECRET).status == 401
    assert verify(headers, BODY, b"other-secret").status == 401
    assert not verify(headers, BODY + b" ", SECRET).accepted


def test_wrong_gitlab_token_is_rejected() -> None:
    verdict = verify({"X-Gitlab-Token": "nope"}, BODY, SECRET)
    assert (verdict.accepted, verdict.status, verdict.reason) == (False, 401, "X-Gitlab-Token does not match")


def test_missing_signature() -> None:
    verdict = verify({"Content-Type": "application/json"}, BODY, SECRET)
    assert (verdict.accepted, verdict.status) == (False, 401)
    assert verdict.reason.startswith("no signature header")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-Serinus-Signature": f"sha1={hmac.new(SECRET, BODY, hashlib.sha1).hexdigest()}"}, "only sha256"),
        ({"X-Hub-Signature-256": f"sha512={GOOD}"}, "only sha256"),
        ({"X-Hub-Signature": "sha1=abc"}, "SHA-1) is not accepted"),
        ({"X-Serinus-Signature": GOOD}, "must be sha256=<hex>"),
        ({"X-Serinus-Signature": "sha256=zz"}, "not a hex SHA-256 digest"),
        ({"X-Gitea-Signature": GOOD[:-2]}, "not a hex SHA-256 digest"),
    ],
)
def test_wrong_algorithm_or_malformed_signature_is_400(headers: dict[str, str], reason: str) -> None:
    verdict = verify(headers, BODY, SECRET)
    assert (verdict.accepted, verdict.status) == (False, 400)
    assert reason in verdict.reason


def test_oversized_body_is_413_before_any_hmac() -> None:
    body = b"x" * (MAX_BODY + 1)
    good = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    verdict = verify({"X-Serinus-Signature": f"sha256={good}"}, body, SECRET)
    assert (verdict.accepted, verdict.status) == (False, 413)
    exactly = b"x" * MAX_BODY
    good = hmac.new(SECRET, exactly, hashlib.sha256).hexdigest()
    assert verify({"X-Serinus-Signature": f"sha256={good}"}, exactly, SECRET).accepted


def test_empty_secret_never_verifies() -> None:
    empty = hmac.new(b"", BODY, hashlib.sha256).hexdigest()
    verdict = verify({"X-Serinus-Signature": f"sha256={empty}"}, BODY, b"")
    assert (verdict.accepted, verdict.status) == (False, 403)
