"""`MemoryObjects`: the in-memory fake of the `Objects` port, for unit tests and fault injection.

It keeps the API server semantics adapters rely on: `resourceVersion` bumped on every write and
checked on PUT and on a merge patch that carries it (409 when stale), `uid`, `generation` bumped on
spec changes, a status subresource that a main PUT cannot change (and vice versa), merge patch (an
object being deleted is gone once a patch removes its last finalizer), and the scale subresource.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from controller.kube.objects import AlreadyExists, ApiError, Conflict, NotFound, Obj, Resource

Key = tuple[Resource, str, str]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: apply a JSON merge patch to a JSON value (returns a new value)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class MemoryObjects:
    """An in-memory object store honouring resourceVersion, generation and subresources."""

    def __init__(self) -> None:
        self.objects: dict[Key, Obj] = {}
        self.writes: list[tuple[str, str, str, str]] = []  # (verb, kind, namespace, name)
        self.reads: list[tuple[str, str, str]] = []  # (kind, namespace, name) of every get
        # Called after every write, as a watch would deliver it: (resource, namespace, name).
        self.watchers: list[Callable[[Resource, str, str], None]] = []
        self._versions = itertools.count(1)
        self._faults: list[tuple[str, ApiError]] = []

    def fail_next(self, verb: str, error: ApiError) -> None:
        """Make the next call of `verb` (get, create, replace, replace_status, merge_patch, scale) raise."""
        self._faults.append((verb, error))

    def _fault(self, verb: str) -> None:
        for i, (v, err) in enumerate(self._faults):
            if v == verb:
                del self._faults[i]
                raise err

    def _wrote(self, verb: str, res: Resource, namespace: str, name: str) -> None:
        self.writes.append((verb, res.kind, namespace, name))
        for watcher in self.watchers:
            watcher(res, namespace, name)

    def _stamp(self, obj: Obj) -> None:
        obj.setdefault("metadata", {})["resourceVersion"] = str(next(self._versions))

    def get(self, res: Resource, namespace: str, name: str) -> Obj | None:
        """A deep copy of the stored object, or None."""
        self.reads.append((res.kind, namespace, name))
        self._fault("get")
        obj = self.objects.get((res, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def create(self, res: Resource, namespace: str, body: Mapping[str, Any]) -> Obj:
        """Store a new object; `AlreadyExists` if the name is taken."""
        self._fault("create")
        obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        name = meta.get("name")
        if not name:
            raise ApiError(f"create {res.kind} in {namespace}: metadata.name is required", 422)
        if (res, namespace, name) in self.objects:
            raise AlreadyExists(f"create {res.kind} {namespace}/{name}: already exists", 409)
        meta.update(namespace=namespace, uid=str(uuid.uuid4()), generation=1)
        meta.pop("resourceVersion", None)
        obj.setdefault("apiVersion", res.api_version)
        obj.setdefault("kind", res.kind)
        self._stamp(obj)
        self.objects[(res, namespace, name)] = obj
        self._wrote("create", res, namespace, name)
        return copy.deepcopy(obj)

    def _existing(self, res: Resource, namespace: str, name: str, body: Mapping[str, Any] | None) -> Obj:
        stored = self.objects.get((res, namespace, name))
        if stored is None:
            raise NotFound(f"{res.kind} {namespace}/{name} not found", 404)
        if body is not None:
            sent = (body.get("metadata") or {}).get("resourceVersion")
            if sent and sent != stored["metadata"]["resourceVersion"]:
                raise Conflict(f"{res.kind} {namespace}/{name}: resourceVersion {sent} is stale", 409)
        return stored

    def replace(self, res: Resource, namespace: str, name: str, body: Mapping[str, Any]) -> Obj:
        """PUT: replaces everything but status; 409 on a stale resourceVersion."""
        self._fault("replace")
        stored = self._existing(res, namespace, name, body)
        obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        for key in ("uid", "namespace", "generation", "creationTimestamp"):
            if key in stored["metadata"]:
                meta[key] = stored["metadata"][key]
        if "status" in stored:
            obj["status"] = copy.deepcopy(stored["status"])
        else:
            obj.pop("status", None)
        if obj.get("spec") != stored.get("spec"):
            meta["generation"] = int(stored["metadata"].get("generation", 1)) + 1
        self._stamp(obj)
        self.objects[(res, namespace, name)] = obj
        self._wrote("replace", res, namespace, name)
        return copy.deepcopy(obj)

    def replace_status(self, res: Resource, namespace: str, name: str, body: Mapping[str, Any]) -> Obj:
        """PUT status: only `status` changes; 409 on a stale resourceVersion."""
        self._fault("replace_status")
        stored = self._existing(res, namespace, name, body)
        stored["status"] = copy.deepcopy(body.get("status") or {})
        self._stamp(stored)
        self._wrote("replace_status", res, namespace, name)
        return copy.deepcopy(stored)

    def merge_patch(self, res: Resource, namespace: str, name: str, patch: Mapping[str, Any]) -> Obj:
        """Merge patch (status is left alone, as with a subresource-enabled type).

        A `metadata.resourceVersion` in the patch guards it (409 when stale), and an object being
        deleted whose last finalizer the patch removes is gone, as on a real API server.
        """
        self._fault("merge_patch")
        stored = self._existing(res, namespace, name, patch)
        patched = merge_patch(stored, {k: v for k, v in patch.items() if k != "status"})
        if patched.get("spec") != stored.get("spec"):
            patched["metadata"]["generation"] = int(stored["metadata"].get("generation", 1)) + 1
        self._stamp(patched)
        self._wrote("merge_patch", res, namespace, name)
        if patched["metadata"].get("deletionTimestamp") and not patched["metadata"].get("finalizers"):
            del self.objects[(res, namespace, name)]
        else:
            self.objects[(res, namespace, name)] = patched
        return copy.deepcopy(patched)

    def scale(self, res: Resource, namespace: str, name: str, replicas: int) -> Obj:
        """Set spec.replicas; returns an autoscaling/v1 Scale."""
        self._fault("scale")
        stored = self._existing(res, namespace, name, None)
        if stored.setdefault("spec", {}).get("replicas") != replicas:
            stored["spec"]["replicas"] = replicas
            stored["metadata"]["generation"] = int(stored["metadata"].get("generation", 1)) + 1
            self._stamp(stored)
            self._wrote("scale", res, namespace, name)
        return {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {"name": name, "namespace": namespace,
                         "resourceVersion": stored["metadata"]["resourceVersion"]},
            "spec": {"replicas": replicas},
            "status": {"replicas": int((stored.get("status") or {}).get("replicas", 0))},
        }
