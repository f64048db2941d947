"""Faults injected on demand by tests: latency, error answers on a share of requests, dropped
watches. All off until switched on."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sandbox.apiserver.errors import ApiError

_MESSAGES = {
    409: "Operation cannot be fulfilled: injected conflict",
    429: "Too many requests, please try again later (injected)",
    500: "Internal error occurred: injected fault",
    503: "the server is currently unable to handle the request (injected)",
}


@dataclass(frozen=True)
class ErrorRule:
    """Answer `status` to a `share` of requests matching `verbs` and `resources` (None: all)."""

    status: int
    share: float
    verbs: frozenset[str] | None
    resources: frozenset[str] | None


class Faults:
    """The fault switchboard of one emulator; safe to drive from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random()  # noqa: S311 - fault sampling, not security
        self._latency = 0.0
        self._rules: list[ErrorRule] = []
        self._dropper: Callable[[], int] | None = None
        self.injected = 0  # how many error answers were injected so far

    def latency(self, seconds: float) -> None:
        """Delay every request by `seconds` before it is served."""
        if seconds < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {seconds}")
        self._latency = seconds

    def errors(
        self,
        status: int = 500,
        share: float = 1.0,
        verbs: Iterable[str] | None = None,
        resources: Iterable[str] | None = None,
        seed: int | None = None,
    ) -> None:
        """Answer `status` (409, 429, 500 or 503) to `share` of matching requests.

        `verbs` are API verbs (get, list, watch, create, update, patch, delete, deletecollection);
        `resources` are plural names, e.g. `configmaps` or `deployments/status`."""
        if status not in _MESSAGES:
            raise ValueError(f"unsupported fault status {status}; use one of {sorted(_MESSAGES)}")
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must be within [0, 1], got {share}")
        with self._lock:
            if seed is not None:
                self._rng.seed(seed)
            self._rules.append(
                ErrorRule(
                    status,
                    share,
                    frozenset(verbs) if verbs is not None else None,
                    frozenset(resources) if resources is not None else None,
                )
            )

    def drop_watches(self) -> int:
        """End every open watch stream now (clients see the stream close); returns how many."""
        dropper = self._dropper
        return dropper() if dropper is not None else 0

    def clear(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._latency = 0.0
            self._rules = []

    # --- used by the server ----------------------------------------------------------------

    def attach(self, dropper: Callable[[], int]) -> None:
        """Give the switchboard a way to drop the server's watches."""
        self._dropper = dropper

    @property
    def delay(self) -> float:
        """Current injected latency in seconds."""
        return self._latency

    def pick(self, verb: str, resource: str) -> ApiError | None:
        """The injected failure for this request, if any."""
        with self._lock:
            for rule in self._rules:
                if rule.verbs is not None and verb not in rule.verbs:
                    continue
                if rule.resources is not None and resource not in rule.resources:
                    continue
                if self._rng.random() < rule.share:
                    self.injected += 1
                    headers = {"Retry-After": "1"} if rule.status == 429 else {}
                    reason = {
                        409: "Conflict",
                        429: "TooManyRequests",
                        500: "InternalError",
                        503: "ServiceUnavailable",
                    }[rule.status]
                    return ApiError(rule.status, _MESSAGES[rule.status], reason=reason, headers=headers)
        return None
