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


class Controllers:
    """Reconciles after every change until nothing is left to do."""

    def __init__(self, api: Api) -> None:
        self.api = api

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
        """One pass of every controller."""
        objects = self.api.all_objects()
        self._namespaces(objects)
        self._crds(objects)
        self._garbage(self.api.all_objects())

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

    def _namespaces(self, objects: list[tuple[ResourceType, dict[str, Any]]]) -> None:
        for rt, ns in objects:
            if rt.kind != "Namespace" or rt.group or not ns["metadata"].get("deletionTimestamp"):
                continue
            name = ns["metadata"]["name"]
            content = [(t, o) for t, o in objects if t.namespaced and o["metadata"].get("namespace") == name]
            for t, o in content:
                self._delete(t, o)
            if content:
                continue
            new = copy.deepcopy(ns)
            spec = new.setdefault("spec", {})
            spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != "kubernetes"]
            if new != ns:
                self._write(rt, new, ns)

    def _crds(self, objects: list[tuple[ResourceType, dict[str, Any]]]) -> None:
        for rt, crd in objects:
            if rt.kind != "CustomResourceDefinition" or not crd["metadata"].get("deletionTimestamp"):
                continue
            if CRD_FINALIZER not in crd["metadata"].get("finalizers", []):
                continue
            name = crd["metadata"]["name"]
            types = self.api.registry.crd_types(name)
            buckets = {t.store_key for t in types}
            content = [(t, o) for t, o in objects if t.store_key in buckets]
            for t, o in content:
                self._delete(t, o)
            if content:
                continue
            self.api.registry.unregister_crd(name)
            new = copy.deepcopy(crd)
            new["metadata"]["finalizers"] = [f for f in new["metadata"]["finalizers"] if f != CRD_FINALIZER]
            self._write(rt, new, crd)

    def _garbage(self, objects: list[tuple[ResourceType, dict[str, Any]]]) -> None:
        uids = {o["metadata"]["uid"]: (t, o) for t, o in objects}
        for rt, obj in objects:
            refs = obj["metadata"].get("ownerReferences") or []
            if not refs:
                continue
            live = [r for r in refs if r.get("uid") in uids]
            if not live:
                self._delete(rt, obj)
            elif len(live) != len(refs):
                new = copy.deepcopy(obj)
                new["metadata"]["ownerReferences"] = live
                self._write(rt, new, obj)
            elif any(
                uids[r["uid"]][1]["metadata"].get("deletionTimestamp")
                and "foregroundDeletion" in uids[r["uid"]][1]["metadata"].get("finalizers", [])
                for r in live
            ):
                self._delete(rt, obj)
        for rt, owner in objects:
            meta = owner["metadata"]
            if not meta.get("deletionTimestamp") or "foregroundDeletion" not in meta.get("finalizers", []):
                continue
            current = self.api.store.get(rt.store_key, meta.get("namespace") or "", meta["name"])
            if current is None or self.api.has_dependents(meta["uid"]):
                continue
            new = copy.deepcopy(current)
            new["metadata"]["finalizers"] = [f for f in meta["finalizers"] if f != "foregroundDeletion"]
            self._write(rt, new, current)
