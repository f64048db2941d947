"""The only controllers the emulator runs, as kube-controller-manager and kube-apiserver do:
garbage collection by ownerReferences, namespace finalization, and CRD cleanup on deletion."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from typing import Any

from sandbox.apiserver.api import Api
from sandbox.apiserver.errors import ApiError
from sandbox.apiserver.resources import ResourceType

log = logging.getLogger(__name__)
CRD_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
CRD_GROUP_PLURAL = ("apiextensions.k8s.io", "customresourcedefinitions")


Located = tuple[ResourceType, dict[str, Any]]


def _deleting_with(obj: dict[str, Any], finalizer: str) -> bool:
    meta = obj["metadata"]
    return bool(meta.get("deletionTimestamp")) and finalizer in (meta.get("finalizers") or [])


def _foreground(obj: dict[str, Any]) -> bool:
    return _deleting_with(obj, "foregroundDeletion")


def _orphaning(obj: dict[str, Any]) -> bool:
    return _deleting_with(obj, "orphan")


class Controllers:
    """Reconciles after every change until nothing is left to do.

    Each pass looks only at what the changes since the last pass can affect, found through the
    store's indexes (the dependents of a deleted owner, the object a write touched, the namespaces
    and CRDs being deleted), as kube-controller-manager's informers do; the first pass looks at
    everything."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self._feed = api.store.change_feed()
        self._full = True
        # Objects being deleted that wait for their content or dependents: checked on every pass.
        self._namespaces: set[str] = set()
        self._crds: set[str] = set()
        self._owners: set[str] = set()  # uids in foreground deletion
        self._orphaning: set[str] = set()  # uids being deleted with propagationPolicy Orphan

    async def run(self) -> None:
        """Wake on every store change; never returns until cancelled."""
        flag = self.api.store.change_flag()
        while True:
            await flag.wait()
            flag.clear()
            await asyncio.sleep(0.005)  # let a burst of writes land before one pass
            try:
                self.reconcile()
            except Exception:  # a bug here must not stop the server
                log.exception("built-in controllers failed")

    def reconcile(self) -> None:
        """One pass of every controller over what changed since the last pass."""
        store = self.api.store
        types = self.api.storage_types()
        events, self._feed[:] = list(self._feed), []
        candidates: dict[tuple[tuple[str, str], str, str], None] = {}  # ordered set of objects to GC-check
        if self._full:
            self._full = False
            for bucket in store.buckets():
                for obj in store.select_view(bucket):
                    self._note(bucket, obj, candidates)
        for event in events:
            self._note(event.bucket, event.obj, candidates)
            if event.type == "DELETED":
                uid = event.obj["metadata"].get("uid")
                for bucket, dep in store.dependents(str(uid)) if uid else ():
                    self._key(bucket, dep, candidates)
        self._reconcile_namespaces(types)
        self._reconcile_crds(types)
        objects: list[Located] = []
        for bucket, ns, name in candidates:
            found = store.get_view(bucket, ns, name)
            rt = types.get(bucket)
            if found is not None and rt is not None:
                objects.append((rt, found))
        self._garbage(objects)
        self._foreground_owners(types)
        self._orphaning_owners(types)

    def _note(self, bucket: tuple[str, str], obj: dict[str, Any], candidates: dict[Any, None]) -> None:
        """Remember what a changed (or, on the first pass, any) object may need."""
        meta = obj["metadata"]
        if meta.get("ownerReferences"):
            self._key(bucket, obj, candidates)
        if not meta.get("deletionTimestamp"):
            return
        if bucket == ("", "namespaces"):
            self._namespaces.add(meta["name"])
        elif bucket == CRD_GROUP_PLURAL:
            self._crds.add(meta["name"])
        if _orphaning(obj) and meta.get("uid"):
            self._orphaning.add(str(meta["uid"]))
        if _foreground(obj) and meta.get("uid"):
            self._owners.add(str(meta["uid"]))
            for dep_bucket, dep in self.api.store.dependents(str(meta["uid"])):
                self._key(dep_bucket, dep, candidates)

    @staticmethod
    def _key(bucket: tuple[str, str], obj: dict[str, Any], candidates: dict[Any, None]) -> None:
        meta = obj["metadata"]
        candidates[(bucket, meta.get("namespace") or "", meta["name"])] = None

    def _delete(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        with contextlib.suppress(ApiError):  # already gone
            self.api.delete(rt, meta.get("namespace"), meta["name"], {"propagationPolicy": "Background"})

    def _write(self, rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> None:
        if self.api.finalized(new):
            self.api.store.remove(rt.store_key, new)
        else:
            self.api.store.write(rt.store_key, new, old)

    def _reconcile_namespaces(self, types: dict[tuple[str, str], ResourceType]) -> None:
        for name in sorted(self._namespaces):
            ns = self.api.store.get_view(("", "namespaces"), "", name)
            if ns is None or not ns["metadata"].get("deletionTimestamp"):
                self._namespaces.discard(name)
                continue
            rt = types[("", "namespaces")]
            content = [
                (t, o)
                for bucket, o in self.api.store.in_namespace(name)
                for t in (types.get(bucket),)
                if t is not None and t.namespaced
            ]
            for t, o in content:
                self._delete(t, o)
            if content:
                continue
            new = copy.deepcopy(ns)
            spec = new.setdefault("spec", {})
            spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != "kubernetes"]
            if new != ns:
                self._write(rt, new, ns)

    def _reconcile_crds(self, types: dict[tuple[str, str], ResourceType]) -> None:
        for name in sorted(self._crds):
            crd = self.api.store.get_view(CRD_GROUP_PLURAL, "", name)
            if crd is None or not crd["metadata"].get("deletionTimestamp"):
                self._crds.discard(name)
                continue
            if CRD_FINALIZER not in crd["metadata"].get("finalizers", []):
                continue
            rt = types[CRD_GROUP_PLURAL]
            crd_types = self.api.registry.crd_types(name)
            buckets = {t.store_key: t for t in crd_types}
            content = [
                (types.get(bucket, t), o)
                for bucket, t in buckets.items()
                for o in self.api.store.select_view(bucket)
            ]
            for t, o in content:
                self._delete(t, o)
            if content:
                continue
            self.api.registry.unregister_crd(name)
            new = copy.deepcopy(crd)
            new["metadata"]["finalizers"] = [f for f in new["metadata"]["finalizers"] if f != CRD_FINALIZER]
            self._write(rt, new, crd)

    def _garbage(self, objects: list[Located]) -> None:
        store = self.api.store
        for rt, obj in objects:
            refs = obj["metadata"].get("ownerReferences") or []
            if not refs:
                continue
            owners = {str(r.get("uid")): store.by_uid(str(r.get("uid"))) for r in refs}
            live = [r for r in refs if owners[str(r.get("uid"))] is not None]
            if not live:
                self._delete(rt, obj)
            elif len(live) != len(refs):
                new = copy.deepcopy(obj)
                new["metadata"]["ownerReferences"] = live
                self._write(rt, new, obj)
            elif any(_foreground(found[1]) for r in live if (found := owners[str(r.get("uid"))])):
                self._delete(rt, obj)

    def _foreground_owners(self, types: dict[tuple[str, str], ResourceType]) -> None:
        for uid in sorted(self._owners):
            found = self.api.store.by_uid(uid)
            if found is None or not _foreground(found[1]):
                self._owners.discard(uid)
                continue
            bucket, current = found
            rt = types.get(bucket)
            if rt is None or self.api.has_dependents(uid):
                continue
            meta = current["metadata"]
            new = copy.deepcopy(current)
            new["metadata"]["finalizers"] = [f for f in meta["finalizers"] if f != "foregroundDeletion"]
            self._write(rt, new, current)

    def _orphaning_owners(self, types: dict[tuple[str, str], ResourceType]) -> None:
        """An owner deleted with propagationPolicy Orphan: strip the references to it from its
        dependents, then drop its `orphan` finalizer."""
        for uid in sorted(self._orphaning):
            found = self.api.store.by_uid(uid)
            self._orphaning.discard(uid)
            if found is None or not _orphaning(found[1]):
                continue
            bucket, current = found
            rt = types.get(bucket)
            if rt is None:
                continue
            self.api.orphan_dependents(uid)
            new = copy.deepcopy(current)
            new["metadata"]["finalizers"] = [f for f in current["metadata"]["finalizers"] if f != "orphan"]
            self._write(rt, new, current)
