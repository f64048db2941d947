"""The Canary's status, written only over the version it was decided from, and its manual controls.

A status write is a PUT to the status subresource carrying the `metadata.resourceVersion` that was
read; if anything wrote the Canary since, the API server answers 409 and `StaleStatus` is raised so
the caller re-reads and decides again. There is no last-writer-wins path.

Serinus's own finalizer (`FINALIZER`) holds a Canary being deleted until the core's Terminating flow
has finished: the leader's tick adds it to a live Canary that lacks it and removes it when the core
says `Finalize`. Both are merge patches carrying the `resourceVersion` that was read (a 409 raises
`StaleStatus`, as for the status), so a finalizer list changed meanwhile is never overwritten.

Manual controls are annotations `serinus.dev/<action>: <token>` set by the CLI. The core consumes
each token once (it records consumed tokens in the status it writes); `clear_controls` only tidies
consumed annotations away afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from controller.kube.objects import CANARY, Conflict, Obj, Objects

ANNOTATION_PREFIX = "serinus.dev/"
FINALIZER = "serinus.dev/finalizer"
CONTROLS = ("promote", "abort", "retry", "suspend", "resume")


class StaleStatus(Exception):
    """The Canary changed since it was read: re-read it and decide again."""


@dataclass(frozen=True)
class ControlAnnotation:
    """A manual control set on the Canary: `serinus.dev/<action>: <token>`."""

    action: str
    token: str


def manual_controls(canary: Mapping[str, Any]) -> tuple[ControlAnnotation, ...]:
    """The manual controls set on a Canary (pure), in `CONTROLS` order; empty tokens are ignored."""
    notes = (canary.get("metadata") or {}).get("annotations") or {}
    return tuple(ControlAnnotation(action, str(notes[ANNOTATION_PREFIX + action]).strip())
                 for action in CONTROLS
                 if str(notes.get(ANNOTATION_PREFIX + action, "")).strip())


def _ref(canary: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = canary.get("metadata") or {}
    namespace, name, version = meta.get("namespace"), meta.get("name"), meta.get("resourceVersion")
    if not namespace or not name or not version:
        raise ValueError(f"Canary {namespace}/{name}: metadata.namespace, name and resourceVersion "
                         "are needed to write its status")
    return str(namespace), str(name), str(version)


class CanaryStatus(Protocol):
    """Port: read a Canary, write its status guarded by resourceVersion, tidy consumed controls."""

    def read(self, namespace: str, name: str) -> Obj | None:
        """The Canary, or None."""
        ...

    def write(self, canary: Mapping[str, Any], status: Mapping[str, Any]) -> Obj:
        """Write `status` over `canary` as read (`StaleStatus` if it changed since); the stored Canary."""
        ...

    def clear_controls(self, canary: Mapping[str, Any], consumed: Iterable[ControlAnnotation]) -> Obj | None:
        """Remove consumed control annotations (those still carrying the consumed token).

        Returns the stored Canary, or None when it changed meanwhile (the next tick tidies up).
        """
        ...

    def hold(self, canary: Mapping[str, Any]) -> Obj:
        """Add `FINALIZER` to a live Canary lacking it (`StaleStatus` if it changed); the stored Canary."""
        ...

    def release(self, canary: Mapping[str, Any]) -> Obj:
        """Remove `FINALIZER` (`StaleStatus` if the Canary changed); the stored Canary."""
        ...


class KubeCanaryStatus:
    """`CanaryStatus` over the `Objects` port (real or in-memory)."""

    def __init__(self, objects: Objects) -> None:
        self.objects = objects

    def read(self, namespace: str, name: str) -> Obj | None:
        """The Canary, or None."""
        return self.objects.get(CANARY, namespace, name)

    def write(self, canary: Mapping[str, Any], status: Mapping[str, Any]) -> Obj:
        """PUT the status subresource with the resourceVersion read; no write when unchanged."""
        namespace, name, _ = _ref(canary)
        if canary.get("status") == status:
            return dict(canary)
        try:
            return self.objects.replace_status(CANARY, namespace, name, {**canary, "status": dict(status)})
        except Conflict as exc:
            raise StaleStatus(f"Canary {namespace}/{name} changed since it was read: {exc}") from exc

    def clear_controls(self, canary: Mapping[str, Any], consumed: Iterable[ControlAnnotation]) -> Obj | None:
        """Replace the Canary without the consumed annotations (guarded; a conflict returns None)."""
        namespace, name, _ = _ref(canary)
        meta = dict(canary.get("metadata") or {})
        notes = dict(meta.get("annotations") or {})
        removed = False
        for control in consumed:
            key = ANNOTATION_PREFIX + control.action
            if str(notes.get(key, "")).strip() == control.token:
                del notes[key]
                removed = True
        if not removed:
            return dict(canary)
        meta["annotations"] = notes
        try:
            return self.objects.replace(CANARY, namespace, name, {**canary, "metadata": meta})
        except Conflict:
            return None

    def hold(self, canary: Mapping[str, Any]) -> Obj:
        """Add `FINALIZER` unless present or the Canary is being deleted (no write then)."""
        meta = canary.get("metadata") or {}
        finalizers = list(meta.get("finalizers") or ())
        if FINALIZER in finalizers or meta.get("deletionTimestamp"):
            return dict(canary)
        return self._finalizers(canary, [*finalizers, FINALIZER])

    def release(self, canary: Mapping[str, Any]) -> Obj:
        """Remove `FINALIZER` (no write when absent); others' finalizers are kept."""
        finalizers = list((canary.get("metadata") or {}).get("finalizers") or ())
        if FINALIZER not in finalizers:
            return dict(canary)
        return self._finalizers(canary, [f for f in finalizers if f != FINALIZER])

    def _finalizers(self, canary: Mapping[str, Any], finalizers: list[str]) -> Obj:
        namespace, name, version = _ref(canary)
        patch = {"metadata": {"resourceVersion": version, "finalizers": finalizers}}
        try:
            return self.objects.merge_patch(CANARY, namespace, name, patch)
        except Conflict as exc:
            raise StaleStatus(f"Canary {namespace}/{name} changed since it was read: {exc}") from exc
