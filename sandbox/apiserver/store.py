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


def _owner_uids(obj: dict[str, Any] | None) -> set[str]:
    if obj is None:
        return set()
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return {str(r["uid"]) for r in refs if isinstance(r, dict) and r.get("uid")}


Located = tuple[StoreKey, dict[str, Any]]  # an object (not a copy) with its bucket


class Store:
    """All objects, the resourceVersion counter, retained events and live watches.

    Objects are kept per bucket and namespace, with indexes by uid and by owner uid, so that a read
    by key, a list in one namespace and the garbage collector's lookups cost what they cost in the
    real API server: nothing proportional to the number of objects stored elsewhere. Stored objects
    are never changed in place (every write stores a fresh copy), so the ``*_view`` readers may
    hand them out uncopied to callers that only read.

    Used from one event loop only, so no locking is needed."""

    def __init__(self, history: int = 1000) -> None:
        self._objects: dict[StoreKey, dict[str, dict[str, dict[str, Any]]]] = {}
        self._uids: dict[str, tuple[StoreKey, ObjKey]] = {}
        self._dependents: dict[str, set[tuple[StoreKey, ObjKey]]] = {}
        self._rv = 1
        self._history: deque[Event] = deque()
        self.history_limit = history
        # Highest resourceVersion whose event was dropped from history: older watches get 410.
        self.compacted = 0
        self._subs: set[Subscription] = set()
        self._changed: list[asyncio.Event] = []
        self._feeds: list[list[Event]] = []

    @property
    def resource_version(self) -> int:
        """The current global resourceVersion."""
        return self._rv

    def get(self, bucket: StoreKey, namespace: str, name: str) -> dict[str, Any] | None:
        """A deep copy of one object, or None."""
        obj = self.get_view(bucket, namespace, name)
        return copy.deepcopy(obj) if obj is not None else None

    def get_view(self, bucket: StoreKey, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object itself (not to be changed), or None."""
        return self._objects.get(bucket, {}).get(namespace, {}).get(name)

    def select(self, bucket: StoreKey, namespace: str | None = None) -> list[dict[str, Any]]:
        """Deep copies of the bucket's objects, ordered by namespace then name (as etcd keys)."""
        return [copy.deepcopy(obj) for obj in self.select_view(bucket, namespace)]

    def select_view(self, bucket: StoreKey, namespace: str | None = None) -> list[dict[str, Any]]:
        """Like ``select`` but the stored objects themselves (not to be changed); costs the size of
        the namespace when one is given."""
        spaces = self._objects.get(bucket, {})
        if namespace is not None:
            names = spaces.get(namespace, {})
            return [names[n] for n in sorted(names)]
        return [names[n] for ns in sorted(spaces) for names in (spaces[ns],) for n in sorted(names)]

    def buckets(self) -> list[StoreKey]:
        """Buckets that hold objects."""
        return [b for b, spaces in self._objects.items() if spaces]

    def in_namespace(self, namespace: str) -> list[Located]:
        """Every stored object of one namespace, across buckets (not copies)."""
        return [
            (bucket, obj)
            for bucket, spaces in self._objects.items()
            for obj in spaces.get(namespace, {}).values()
        ]

    def by_uid(self, uid: str) -> Located | None:
        """The stored object with this uid (not a copy), or None."""
        where = self._uids.get(uid)
        if where is None:
            return None
        bucket, (ns, name) = where
        obj = self.get_view(bucket, ns, name)
        return (bucket, obj) if obj is not None else None

    def dependents(self, uid: str) -> list[Located]:
        """Stored objects naming ``uid`` among their ownerReferences (not copies)."""
        out: list[Located] = []
        for bucket, (ns, name) in sorted(self._dependents.get(uid, ())):
            obj = self.get_view(bucket, ns, name)
            if obj is not None:
                out.append((bucket, obj))
        return out

    def has_dependents(self, uid: str) -> bool:
        """Whether any stored object names ``uid`` among its ownerReferences."""
        return bool(self._dependents.get(uid))

    def _put(self, bucket: StoreKey, obj: dict[str, Any]) -> None:
        key = _ns_name(obj)
        spaces = self._objects.setdefault(bucket, {})
        names = spaces.setdefault(key[0], {})
        self._unindex(bucket, key, names.get(key[1]))
        names[key[1]] = obj
        uid = obj["metadata"].get("uid")
        if uid:
            self._uids[str(uid)] = (bucket, key)
        for owner in _owner_uids(obj):
            self._dependents.setdefault(owner, set()).add((bucket, key))

    def _pop(self, bucket: StoreKey, key: ObjKey) -> dict[str, Any] | None:
        spaces = self._objects.get(bucket, {})
        names = spaces.get(key[0], {})
        old = names.pop(key[1], None)
        if not names:
            spaces.pop(key[0], None)
        self._unindex(bucket, key, old)
        return old

    def _unindex(self, bucket: StoreKey, key: ObjKey, obj: dict[str, Any] | None) -> None:
        if obj is None:
            return
        uid = obj["metadata"].get("uid")
        if uid and self._uids.get(str(uid)) == (bucket, key):
            del self._uids[str(uid)]
        for owner in _owner_uids(obj):
            deps = self._dependents.get(owner)
            if deps is not None:
                deps.discard((bucket, key))
                if not deps:
                    del self._dependents[owner]

    def write(self, bucket: StoreKey, obj: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        """Store `obj` (ADDED when `old` is None, else MODIFIED) with a fresh resourceVersion."""
        self._rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._put(bucket, obj)
        self._record(Event(self._rv, "ADDED" if old is None else "MODIFIED", bucket, obj, old))
        return copy.deepcopy(obj)

    def remove(self, bucket: StoreKey, obj: dict[str, Any]) -> dict[str, Any]:
        """Remove an object; its DELETED event carries a fresh resourceVersion."""
        old = self._pop(bucket, _ns_name(obj))
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
        for feed in self._feeds:
            feed.append(event)
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

    def change_feed(self) -> list[Event]:
        """A list every change is appended to (the built-in controllers take from it)."""
        feed: list[Event] = []
        self._feeds.append(feed)
        return feed

    def change_flag(self) -> asyncio.Event:
        """An event set on every change (for the built-in controllers)."""
        flag = asyncio.Event()
        self._changed.append(flag)
        return flag
