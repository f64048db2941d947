"""``/metrics`` of the emulator: ``apiserver_request_total`` as kube-apiserver exposes it.

Labels as on a real API server: ``verb`` (GET, LIST, WATCH, POST, PUT, PATCH, DELETE,
DELETECOLLECTION), ``group``, ``version``, ``resource``, ``subresource``, ``scope`` (``resource`` for a
named object, ``namespace`` or ``cluster`` for a collection) and ``code``. A request is counted when
it completes (a watch when its stream ends), so a benchmark can count what a controller reads and
writes without a proxy in front of it.
"""

from __future__ import annotations

import threading
from collections import Counter

_VERBS = {
    "get": "GET", "list": "LIST", "watch": "WATCH", "create": "POST", "update": "PUT", "patch": "PATCH",
    "delete": "DELETE", "deletecollection": "DELETECOLLECTION",
}
_LABELS = ("verb", "group", "version", "resource", "subresource", "scope", "code")
HELP = ("# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, group, "
        "version, resource, scope, component, and HTTP response code.\n"
        "# TYPE apiserver_request_total counter\n")


class RequestCounter:
    """Thread-safe counts of served resource requests, by the labels kube-apiserver uses."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, ...]] = Counter()
        self._lock = threading.Lock()

    def count(self, verb: str, group: str, version: str, resource: str, *, subresource: str | None,
              scope: str, code: int) -> None:
        """Count one completed request (``verb`` as the emulator names it: get, list, create, ...)."""
        key = (_VERBS.get(verb, verb.upper()), group, version, resource, subresource or "", scope, str(code))
        with self._lock:
            self._counts[key] += 1

    def exposition(self) -> str:
        """The Prometheus text format, one series per label set, sorted."""
        with self._lock:
            items = sorted(self._counts.items())
        lines = [
            "apiserver_request_total{"
            + ",".join(f'{name}="{value}"' for name, value in zip(_LABELS, key, strict=True))
            + ',component="apiserver"}' + f" {n}"
            for key, n in items
        ]
        return HELP + "".join(line + "\n" for line in lines)
