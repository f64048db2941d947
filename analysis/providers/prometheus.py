"""Prometheus metric provider on prometheus-api-client, with a timeout, one retry layer and an allowlist.

- **Timeout**: every request carries an explicit ``timeout`` (default 5 s; the client library's
  default is none, which would hang a check forever on a silent server). The same budget is passed
  to Prometheus as the query's evaluation ``timeout``.
- **Retries**: exactly one layer, tenacity, on transport errors only (connection refused/reset,
  connect or read timeout), bounded (3 attempts, short exponential backoff). The library's own
  urllib3 retries are switched off so they do not multiply with ours. HTTP 4xx/5xx answers
  (a PromQL syntax error, an overloaded server) are not retried.
- **Answers**: an empty vector or NaN is no data; one series or a scalar is a value; several series
  are an error ("query returned 3 series; expected 1"), never "the last one wins".
- **Allowlist**: the address is checked when the provider is created, before any request.
- **Auth**: a bearer token or basic credentials passed in by the caller (the operator reads the Secret).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import requests
import urllib3
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from urllib3.util.retry import Retry

from analysis.providers.allowlist import Allowlist
from analysis.query import QueryResult

DEFAULT_TIMEOUT = 5.0
DEFAULT_ATTEMPTS = 3
_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout)
_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)\Z", re.DOTALL)


class PrometheusProvider:
    """Instant queries against one Prometheus-compatible server (Prometheus, Thanos, Mimir, VictoriaMetrics).

    Create one per address; it is cheap to keep and reuse (one HTTP session).
    ``session`` lets tests inject a ``requests.Session`` whose transport fails on purpose.
    """

    def __init__(
        self,
        address: str,
        *,
        allowlist: Allowlist,
        timeout: float = DEFAULT_TIMEOUT,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        verify_tls: bool = True,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = 0.1,
        session: requests.Session | None = None,
    ) -> None:
        self.address = allowlist.check(address)
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        if bearer_token is not None and basic_auth is not None:
            raise ValueError("give either a bearer token or basic credentials, not both")
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.last_attempts = 0
        headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token is not None else None
        self._client = PrometheusConnect(
            url=self.address,
            headers=headers,
            disable_ssl=not verify_tls,
            # tenacity is the only retry layer; read=False lets a read timeout surface as such
            retry=Retry(total=0, read=False, raise_on_status=False),
            auth=basic_auth,
            session=session,
            timeout=timeout,
        )

    def close(self) -> None:
        """Release the HTTP session."""
        self._client.close()

    def _send(self, query: str) -> Any:
        self.last_attempts += 1
        return self._client.custom_query(query, params={"timeout": f"{self.timeout:g}"})

    def _retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff, max=2),
            retry=retry_if_exception_type(_TRANSPORT_ERRORS),
            reraise=True,
        )

    def query(self, query: str) -> QueryResult:
        """Run ``query`` now; a value, no data, or an error with a message. Never raises for server faults."""
        self.last_attempts = 0
        call: Callable[[str], Any] = self._send
        try:
            data = self._retrying()(call, query)
        except _TRANSPORT_ERRORS as exc:
            if not _is_timeout(exc):
                attempts = self.last_attempts
                return QueryResult.error(
                    f"cannot reach Prometheus at {self.address} ({attempts} attempts): {_short(exc)}"
                )
            return QueryResult.error(
                f"Prometheus at {self.address} did not answer within {self.timeout:g}s "
                f"({self.last_attempts} attempts)"
            )
        except PrometheusApiClientException as exc:
            return QueryResult.error(_describe_http_error(self.address, exc))
        except requests.RequestException as exc:
            return QueryResult.error(f"request to Prometheus at {self.address} failed: {_short(exc)}")
        except (ValueError, KeyError, TypeError) as exc:
            return QueryResult.error(f"Prometheus at {self.address} sent a malformed answer: {_short(exc)}")
        return interpret(data)


def _is_timeout(exc: BaseException) -> bool:
    """True for a connect or read timeout, however urllib3 and requests wrapped it."""
    if isinstance(exc, requests.Timeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return False  # a refused connection; urllib3 derives it from ConnectTimeoutError for history's sake
    return isinstance(reason, TimeoutError | urllib3.exceptions.TimeoutError)


def interpret(data: Any) -> QueryResult:
    """Turn the ``result`` of an instant query (as prometheus-api-client returns it) into a QueryResult."""
    if isinstance(data, list) and not data:
        return QueryResult.no_data("query returned no series")
    if (
        isinstance(data, list)
        and len(data) == 2
        and isinstance(data[0], int | float)
        and isinstance(data[1], str)
    ):
        return _number(data[1], "scalar")  # a scalar result: [time, "value"]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        return QueryResult.error(f"unexpected answer from Prometheus: {_short(data)}")
    if any("values" in item for item in data):
        return QueryResult.error("query returned a range vector; expected an instant vector or a scalar")
    if len(data) > 1:
        labels = "; ".join(_labels(item.get("metric", {})) for item in data[:3])
        more = ", ..." if len(data) > 3 else ""
        return QueryResult.error(
            f"query returned {len(data)} series; expected 1 (aggregate with sum/avg/max): {labels}{more}"
        )
    sample = data[0].get("value")
    if not isinstance(sample, list) or len(sample) != 2:
        return QueryResult.error(f"unexpected sample in Prometheus answer: {_short(data[0])}")
    return _number(sample[1], "sample")


def _number(text: Any, what: str) -> QueryResult:
    try:
        return QueryResult.of(float(text))
    except (TypeError, ValueError):
        return QueryResult.error(f"{what} value {text!r} is not a number")


def _labels(metric: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{key}={value!r}" for key, value in sorted(metric.items())) + "}"


def _describe_http_error(address: str, exc: PrometheusApiClientException) -> str:
    text = str(exc)
    match = _STATUS.match(text)
    if match is None:
        return f"Prometheus at {address} refused the query: {_short(text)}"
    status, body = match.group(1), match.group(2)
    detail = body
    try:
        raw = body[2:-1] if body[:2] in {"b'", 'b"'} else body
        payload = json.loads(raw.encode("latin-1").decode("unicode_escape"))
        detail = f"{payload.get('errorType', 'error')}: {payload.get('error', '')}"
    except (ValueError, AttributeError, UnicodeError):
        pass
    return f"Prometheus at {address} answered HTTP {status}: {_short(detail)}"


def _short(value: object, limit: int = 300) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
