"""Calling the Canary's webhooks: Flagger's payload, the webhook's timeout, bounded retries, 2xx = ok.

The payload is ``{name, namespace, phase, revision, metadata}`` (``revision`` is the image under
analysis; ``metadata`` the webhook's own map plus ``eventMessage``/``eventType`` for ``event`` hooks,
as Flagger sends them). Transport errors (refused, reset, timeout) are retried ``retries`` times
(the webhook spec's field, 0 to 10, default 0: one attempt), with a short exponential backoff; an
HTTP answer is final, never retried: 2xx opens a gate, anything else closes it, and the status code
with the start of the body says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from controller.core.spec import CanarySpec, WebhookSpec, WebhookType
from controller.core.status import Phase, Status
from controller.operator.ports import WebhookCall, WebhookReply

_TRANSPORT = (requests.ConnectionError, requests.Timeout)
_BODY_IN_MESSAGE = 200


def payload(spec: CanarySpec, status: Status, webhook: WebhookSpec, phase: Phase | None = None,
            message: str = "", *, event_type: str | None = None) -> dict[str, Any]:
    """Flagger's webhook payload for ``webhook`` about this Canary.

    ``event_type`` is the reported Kubernetes event's type (``Normal`` when not given).
    """
    revision = status.current_revision or status.last_promoted_revision
    metadata: dict[str, str] = dict(webhook.metadata)
    if webhook.type is WebhookType.EVENT:
        metadata.setdefault("eventMessage", message)
        metadata.setdefault("eventType", event_type or "Normal")
    return {
        "name": spec.name,
        "namespace": spec.namespace,
        "phase": str(phase or status.phase),
        "revision": revision.image if revision is not None else "",
        "commit": revision.commit if revision is not None else "",
        "metadata": metadata,
    }


class HttpWebhookCaller:
    """`WebhookCaller` over ``requests`` (one session, no proxies from the environment)."""

    def __init__(self, session: requests.Session | None = None, backoff: float = 0.2) -> None:
        self.session = session or requests.Session()
        self.session.trust_env = False
        self.backoff = backoff

    def _post(self, url: str, body: Mapping[str, Any], timeout: float) -> requests.Response:
        return self.session.post(url, json=dict(body), timeout=timeout, allow_redirects=False)

    def call(self, request: WebhookCall) -> WebhookReply:
        """POST the payload; a transport fault after the last attempt is a failed reply."""
        hook = request.webhook
        attempts = 1 + hook.retries
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(attempts),
                wait=wait_exponential(multiplier=self.backoff, max=2.0),
                retry=retry_if_exception_type(_TRANSPORT),
                reraise=True,
            ):
                with attempt:
                    response = self._post(hook.url, request.payload, hook.timeout)
        except requests.Timeout:
            return WebhookReply(False, f"no answer within {hook.timeout:g}s after {_attempts(attempts)}")
        except requests.RequestException as exc:
            return WebhookReply(False, f"cannot reach {hook.url} after {_attempts(attempts)}: "
                                       f"{type(exc).__name__}")
        if 200 <= response.status_code < 300:
            return WebhookReply(True)
        text = response.text[:_BODY_IN_MESSAGE].strip()
        return WebhookReply(False, f"HTTP {response.status_code}" + (f": {text}" if text else ""))


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"
