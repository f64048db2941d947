"""The thin apply side of routers: build from what is stored, write only a change, read back.

Writes are guarded by `resourceVersion` (the built object carries the one read); when another
writer got in between, the object is read again and rebuilt, a bounded number of times, so
foreign fields changed meanwhile are kept rather than overwritten.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from controller.kube.objects import AlreadyExists, Conflict, Obj, Objects
from controller.routers.model import (
    ALL_PRIMARY,
    Match,
    ObjectRef,
    RouteProvider,
    RouterError,
    RouteTarget,
    UnreadableRoute,
    Weights,
)

ATTEMPTS = 3


class RouteConflict(RouterError):
    """The route kept changing under us for `ATTEMPTS` tries."""


class Router(Protocol):
    """Port: set and observe the traffic split of one Canary's route."""

    def ensure(self, target: RouteTarget, match: Match | None = None) -> Weights:
        """Create the route objects if absent (at 100/0), keeping the current split if present."""
        ...

    def set_weights(self, target: RouteTarget, weights: Weights, match: Match | None = None) -> Weights:
        """Route `weights`; returns the weights read back from the stored object."""
        ...

    def observe(self, target: RouteTarget) -> Weights | None:
        """The stored split, or None when the route object does not exist."""
        ...


class RouterAdapter:
    """`Router` over the `Objects` port for one provider."""

    def __init__(self, objects: Objects, provider: RouteProvider) -> None:
        self.objects = objects
        self.provider = provider

    def _with_source(self, target: RouteTarget) -> RouteTarget:
        ref = self.provider.source_ref(target)
        if ref is None:
            return target
        return dataclasses.replace(target, source=self.objects.get(ref.resource, target.namespace, ref.name))

    def _write(self, ref: ObjectRef, namespace: str, current: Mapping[str, Any] | None, desired: Obj) -> bool:
        """Create or replace; False when nothing changed. `Conflict`/`AlreadyExists` propagate."""
        if current is None:
            self.objects.create(ref.resource, namespace, desired)
            return True
        if desired == current:
            return False
        self.objects.replace(ref.resource, namespace, ref.name, desired)
        return True

    def _converge(self, ref: ObjectRef, target: RouteTarget,
                  build: Callable[[Mapping[str, Any] | None], Obj]) -> Obj:
        for _ in range(ATTEMPTS):
            current = self.objects.get(ref.resource, target.namespace, ref.name)
            desired = build(current)
            try:
                self._write(ref, target.namespace, current, desired)
            except (Conflict, AlreadyExists):
                continue  # someone wrote in between: re-read, rebuild
            return desired
        raise RouteConflict(f"{ref.resource.kind} {target.namespace}/{ref.name} changed under every one of "
                            f"{ATTEMPTS} attempts to write it")

    def _build_aux(self, ref: ObjectRef, target: RouteTarget, current: Mapping[str, Any] | None) -> Obj:
        return self.provider.build_auxiliary(ref, current, target)

    def _apply(self, target: RouteTarget, weights: Weights | None, match: Match | None) -> Weights:
        target = self._with_source(target)
        for aux in self.provider.auxiliary(target):
            self._converge(aux, target, functools.partial(self._build_aux, aux, target))
        ref = self.provider.route_ref(target)

        def build(current: Mapping[str, Any] | None) -> Obj:
            w = weights
            if w is None:
                w = ALL_PRIMARY
                if current is not None:
                    # An object not (yet) ours starts at all-primary.
                    with contextlib.suppress(UnreadableRoute):
                        w = self.provider.read_weights(current, target)
            return self.provider.build(current, target, w, match)

        self._converge(ref, target, build)
        observed = self.observe(target)
        if observed is None:
            raise UnreadableRoute(f"{ref.resource.kind} {target.namespace}/{ref.name} vanished after "
                                  "being written")
        return observed

    def ensure(self, target: RouteTarget, match: Match | None = None) -> Weights:
        """Create or repair the route objects, keeping the split they carry (100/0 when new)."""
        return self._apply(target, None, match)

    def set_weights(self, target: RouteTarget, weights: Weights, match: Match | None = None) -> Weights:
        """Route `weights` and return what the stored object says afterwards."""
        return self._apply(target, weights, match)

    def observe(self, target: RouteTarget) -> Weights | None:
        """The split the stored route object carries (None when absent)."""
        ref = self.provider.route_ref(target)
        obj = self.objects.get(ref.resource, target.namespace, ref.name)
        return None if obj is None else self.provider.read_weights(obj, target)


class FakeRouter:
    """In-memory `Router` for tests of the reconcile loop: remembers the split per route."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Weights] = {}
        self.calls: list[tuple[str, str, Weights]] = []

    def ensure(self, target: RouteTarget, match: Match | None = None) -> Weights:
        """Start at 100/0 when unseen."""
        return self.routes.setdefault((target.namespace, target.service), ALL_PRIMARY)

    def set_weights(self, target: RouteTarget, weights: Weights, match: Match | None = None) -> Weights:
        """Record the split."""
        self.routes[(target.namespace, target.service)] = weights
        self.calls.append((target.namespace, target.service, weights))
        return weights

    def observe(self, target: RouteTarget) -> Weights | None:
        """The recorded split."""
        return self.routes.get((target.namespace, target.service))
