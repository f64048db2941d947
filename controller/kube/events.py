"""Kubernetes Events on the Canary for every transition, aggregated on repeat.

An event's name is derived from the Canary's uid, type, reason and message, so the same event
emitted again (by this or a restarted controller) finds its earlier record and bumps `count` and
`lastTimestamp` instead of adding a new object, as client-go's event correlator does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from controller.kube.objects import EVENT, AlreadyExists, Conflict, Obj, Objects

COMPONENT = "serinus"
TYPES = ("Normal", "Warning")
ATTEMPTS = 3
_MAX_MESSAGE = 1024  # the API server refuses longer event messages


def _timestamp(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_name(involved: Mapping[str, Any], type_: str, reason: str, message: str) -> str:
    """The deterministic name of an event: `<object>.<digest of uid, type, reason, message>`."""
    meta = involved.get("metadata") or {}
    digest = hashlib.sha256("\x00".join((str(meta.get("uid", "")), type_, reason, message)).encode())
    return f"{meta.get('name', '')}.{digest.hexdigest()[:16]}"


def build_event(involved: Mapping[str, Any], type_: str, reason: str, message: str, *, now: dt.datetime,
                instance: str) -> Obj:
    """A new core/v1 Event about `involved` (pure)."""
    if type_ not in TYPES:
        raise ValueError(f"event type must be one of {', '.join(TYPES)}, got {type_!r}")
    if not reason:
        raise ValueError("an event needs a reason")
    meta = involved.get("metadata") or {}
    message = message[:_MAX_MESSAGE]
    stamp = _timestamp(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(involved, type_, reason, message),
                     "namespace": meta.get("namespace")},
        "involvedObject": {"apiVersion": involved.get("apiVersion"), "kind": involved.get("kind"),
                           "name": meta.get("name"), "namespace": meta.get("namespace"),
                           "uid": meta.get("uid")},
        "type": type_,
        "reason": reason,
        "message": message,
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": {"component": COMPONENT},
        "reportingComponent": f"serinus.dev/{COMPONENT}",
        "reportingInstance": instance,
    }


def repeated(stored: Mapping[str, Any], now: dt.datetime) -> Obj:
    """The stored event seen once more: `count + 1`, `lastTimestamp` now (pure)."""
    return {**stored, "count": int(stored.get("count") or 1) + 1, "lastTimestamp": _timestamp(now)}


class EventRecorder(Protocol):
    """Port: record an event about a Canary."""

    def emit(self, involved: Mapping[str, Any], type_: str, reason: str, message: str,
             now: dt.datetime | None = None) -> None:
        """Record (or count once more) an event."""
        ...


class KubeEvents:
    """`EventRecorder` over the `Objects` port: create, or bump the count of the same event."""

    def __init__(self, objects: Objects, instance: str | None = None) -> None:
        self.objects = objects
        self.instance = instance or socket.gethostname()

    def emit(self, involved: Mapping[str, Any], type_: str, reason: str, message: str,
             now: dt.datetime | None = None) -> None:
        """Create the event; if it exists, increment its count (guarded, re-read on conflict)."""
        now = now or dt.datetime.now(dt.UTC)
        body = build_event(involved, type_, reason, message, now=now, instance=self.instance)
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        try:
            self.objects.create(EVENT, namespace, body)
            return
        except AlreadyExists:
            pass
        for _ in range(ATTEMPTS):
            stored = self.objects.get(EVENT, namespace, name)
            if stored is None:  # expired between the two calls
                try:
                    self.objects.create(EVENT, namespace, body)
                    return
                except AlreadyExists:
                    continue
            try:
                self.objects.replace(EVENT, namespace, name, repeated(stored, now))
                return
            except Conflict:
                continue
        raise Conflict(f"Event {namespace}/{name} changed under every one of {ATTEMPTS} count updates")


@dataclass
class RecordedEvent:
    """One event held by `MemoryEvents`."""

    type: str
    reason: str
    message: str
    count: int = 1


class MemoryEvents:
    """In-memory `EventRecorder` for tests: aggregates like the real one, per involved object."""

    def __init__(self) -> None:
        self.events: dict[str, RecordedEvent] = {}

    def emit(self, involved: Mapping[str, Any], type_: str, reason: str, message: str,
             now: dt.datetime | None = None) -> None:
        """Record or count the event."""
        body = build_event(involved, type_, reason, message, now=now or dt.datetime.now(dt.UTC),
                           instance="memory")
        key = body["metadata"]["name"]
        if key in self.events:
            self.events[key].count += 1
        else:
            self.events[key] = RecordedEvent(type_, reason, message)
