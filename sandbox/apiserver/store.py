"""In-memory object storage with one global resourceVersion counter and a bounded event history,
as etcd gives the real API server."""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from dataclasses import dataclass, field
from typing import Any

StoreKey = tuple[str, str]  # (group, plural) of the storage bucket
ObjKey = tuple[str, str]  # (namespace or "", name)


@dataclass(frozen=True)
class Event:
    """One change: `type` is ADDED, MODIFIED or DELETED; `old` is the object before a change."""

    rv: int
    type: str
    bucket: StoreKey
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclass(eq=False)
class Subscription:
    """A live watch on one bucket (optionally one namespace)."""

    bucket: StoreKey
    namespace: str | None
    queue: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)

    def wants(self, event: Event) -> bool:
        """Whether the event is in this watch's bucket and namespace."""
        if event.bucket != self.bucket:
            return False
        ns = event.obj.get("metadata", {}).get("namespace", "")
        return self.namespace is None or ns == self.namespace


def _ns_name(obj: dict[str, Any]) -> ObjKey:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


class Store:
    """All objects, the resourceVersion counter, retained events and live watches.

    Used from one event loop only, so no locking is needed."""

    def __init__(self, history: int = 1000) -> None:
        self._objects: dict[StoreKey, dict[ObjKey, dict[str, Any]]] = {}
        self._rv = 1
        self._history: deque[Event] = deque()
        self.history_limit = history
        # Highest resourceVersion whose event was dropped from history: older watches get 410.
        self.compacted = 0
        self._subs: set[Subscription] = set()
        self._changed: list[asyncio.Event] = []

    @property
    def resource_version(self) -> int:
        """The current global resourceVersion."""
        return self._rv

    def get(self, bucket: StoreKey, namespace: str, name: str) -> dict[str, Any] | None:
        """A deep copy of one object, or None."""
        obj = self._objects.get(bucket, {}).get((namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def select(self, bucket: StoreKey, namespace: str | None = None) -> list[dict[str, Any]]:
        """Deep copies of the bucket's objects, ordered by namespace then name (as etcd keys)."""
        items = self._objects.get(bucket, {})
        return [
            copy.deepcopy(obj)
            for (ns, _), obj in sorted(items.items())
            if namespace is None or ns == namespace
        ]

    def buckets(self) -> list[StoreKey]:
        """Buckets that hold objects."""
        return [b for b, items in self._objects.items() if items]

    def write(self, bucket: StoreKey, obj: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        """Store `obj` (ADDED when `old` is None, else MODIFIED) with a fresh resourceVersion."""
        self._rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._objects.setdefault(bucket, {})[_ns_name(obj)] = obj
        self._record(Event(self._rv, "ADDED" if old is None else "MODIFIED", bucket, obj, old))
        return copy.deepcopy(obj)

    def remove(self, bucket: StoreKey, obj: dict[str, Any]) -> dict[str, Any]:
        """Remove an object; its DELETED event carries a fresh resourceVersion."""
        old = self._objects.get(bucket, {}).pop(_ns_name(obj), None)
        self._rv += 1
        gone = copy.deepcopy(old if old is not None else obj)
        gone["metadata"]["resourceVersion"] = str(self._rv)
        self._record(Event(self._rv, "DELETED", bucket, gone, old))
        return copy.deepcopy(gone)

    def _record(self, event: Event) -> None:
        self._history.append(event)
        while len(self._history) > self.history_limit:
            self.compacted = self._history.popleft().rv
        for sub in list(self._subs):
            if sub.wants(event):
                sub.queue.put_nowait(event)
        for flag in self._changed:
            flag.set()

    def set_history_limit(self, limit: int) -> None:
        """Change how many events are retained; dropping some makes older versions expire (410)."""
        self.history_limit = limit
        while len(self._history) > limit:
            self.compacted = self._history.popleft().rv

    def subscribe(
        self, bucket: StoreKey, namespace: str | None, after: int
    ) -> tuple[Subscription, list[Event]]:
        """Start a watch: the retained events after `after`, then live ones via the queue.

        The caller must check `after >= self.compacted` first (else 410 Gone)."""
        sub = Subscription(bucket, namespace)
        backlog = [e for e in self._history if e.rv > after and sub.wants(e)]
        self._subs.add(sub)
        return sub, backlog

    def unsubscribe(self, sub: Subscription) -> None:
        """End a watch."""
        self._subs.discard(sub)

    def close_watches(self) -> int:
        """End every live watch (fault injection); returns how many were open."""
        subs = list(self._subs)
        for sub in subs:
            sub.queue.put_nowait(None)
        return len(subs)

    def change_flag(self) -> asyncio.Event:
        """An event set on every change (for the built-in controllers)."""
        flag = asyncio.Event()
        self._changed.append(flag)
        return flag
