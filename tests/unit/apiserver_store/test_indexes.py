"""The emulator's store indexes and its incremental garbage collector, driven pass by pass.

Pins: reads by key and lists in a namespace see only that namespace; the owner index follows
writes, re-parenting and removals; a dependent created with an owner uid that does not exist is
collected; with two owners only the gone one's reference is dropped; an owner's removal collects
its dependents in the next pass without any full scan; a terminating namespace is emptied and then
removed; foreground deletion removes the owner once its last dependent is gone."""

from __future__ import annotations

from typing import Any

from sandbox.apiserver.api import Api
from sandbox.apiserver.controllers import Controllers
from sandbox.apiserver.resources import Registry
from sandbox.apiserver.store import Store

CM = ("", "configmaps")


def world() -> tuple[Api, Controllers]:
    """An API over a fresh store, two namespaces, and the built-in controllers after their first pass."""
    api = Api(Store(), Registry())
    ns = api.type("", "v1", "namespaces")
    for name in ("a", "b"):
        api.create(ns, None, {"metadata": {"name": name}})
    controllers = Controllers(api)
    controllers.reconcile()
    return api, controllers


def cm(
    api: Api, ns: str, name: str, *owners: dict[str, Any], finalizers: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Create a ConfigMap owned by ``owners`` (stored objects) and return it."""
    refs = [{"apiVersion": "v1", "kind": "ConfigMap", "name": o["metadata"]["name"],
             "uid": o["metadata"]["uid"]} for o in owners]
    meta: dict[str, Any] = {"name": name, **({"ownerReferences": refs} if refs else {})}
    if finalizers:
        meta["finalizers"] = list(finalizers)
    return api.create(api.type("", "v1", "configmaps"), ns, {"metadata": meta, "data": {"k": "v"}})


def names(api: Api, ns: str) -> list[str]:
    """ConfigMap names in one namespace."""
    return [o["metadata"]["name"] for o in api.store.select_view(CM, ns)]


def test_lists_and_reads_are_per_namespace_and_copies_are_independent() -> None:
    api, _ = world()
    cm(api, "a", "x")
    cm(api, "b", "y")
    cm(api, "a", "w")
    assert names(api, "a") == ["w", "x"] and names(api, "b") == ["y"]
    assert [o["metadata"]["name"] for o in api.store.select(CM)] == ["w", "x", "y"]
    copy = api.store.get(CM, "a", "x")
    assert copy is not None
    copy["data"]["k"] = "changed"
    assert api.store.get_view(CM, "a", "x") == {**copy, "data": {"k": "v"}}


def test_owner_index_follows_writes_and_removals() -> None:
    api, _ = world()
    owner = cm(api, "a", "owner")
    other = cm(api, "a", "other")
    dep = cm(api, "a", "dep", owner)
    uid = owner["metadata"]["uid"]
    assert [o["metadata"]["name"] for _, o in api.store.dependents(uid)] == ["dep"]
    moved = {**dep, "metadata": {**dep["metadata"], "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "other", "uid": other["metadata"]["uid"]}]}}
    api.store.write(CM, moved, dep)
    assert not api.has_dependents(uid) and api.has_dependents(other["metadata"]["uid"])
    api.store.remove(CM, moved)
    assert not api.has_dependents(other["metadata"]["uid"])
    assert api.store.by_uid(dep["metadata"]["uid"]) is None
    assert api.store.by_uid(uid) is not None


def test_dangling_owner_is_collected_and_a_partly_live_owner_list_is_trimmed() -> None:
    api, controllers = world()
    owner = cm(api, "a", "owner")
    gone = {"metadata": {"name": "ghost", "uid": "no-such-uid"}}
    cm(api, "a", "orphan", gone)
    cm(api, "a", "shared", owner, gone)
    controllers.reconcile()
    assert names(api, "a") == ["owner", "shared"]
    shared = api.store.get_view(CM, "a", "shared")
    assert shared is not None
    assert [r["uid"] for r in shared["metadata"]["ownerReferences"]] == [owner["metadata"]["uid"]]


def test_removing_an_owner_collects_its_dependents_in_the_next_pass() -> None:
    api, controllers = world()
    owner = cm(api, "a", "owner")
    cm(api, "a", "dep", owner)
    cm(api, "b", "bystander")
    controllers.reconcile()
    api.delete(api.type("", "v1", "configmaps"), "a", "owner")
    assert names(api, "a") == ["dep"]
    controllers.reconcile()
    assert names(api, "a") == [] and names(api, "b") == ["bystander"]


def test_terminating_namespace_is_emptied_then_removed() -> None:
    api, controllers = world()
    cm(api, "a", "x")
    ns = api.type("", "v1", "namespaces")
    api.delete(ns, None, "a")
    for _ in range(3):
        controllers.reconcile()
    assert names(api, "a") == []
    assert api.store.get_view(("", "namespaces"), "", "a") is None
    assert api.store.get_view(("", "namespaces"), "", "b") is not None


def test_foreground_owner_goes_after_its_last_dependent() -> None:
    api, controllers = world()
    owner = cm(api, "a", "owner")
    cm(api, "a", "dep", owner, finalizers=("example.com/hold",))
    controllers.reconcile()
    cms = api.type("", "v1", "configmaps")
    deleting = api.delete(cms, "a", "owner", {"propagationPolicy": "Foreground"})
    assert deleting["metadata"]["finalizers"] == ["foregroundDeletion"]
    controllers.reconcile()  # the dependent is being deleted, held by its finalizer: the owner waits
    dep = api.store.get_view(CM, "a", "dep")
    assert dep is not None and dep["metadata"].get("deletionTimestamp")
    assert names(api, "a") == ["dep", "owner"]
    api.patch(cms, "a", "dep", "application/merge-patch+json", {"metadata": {"finalizers": None}})
    assert names(api, "a") == ["owner"]
    controllers.reconcile()  # the last dependent is gone: so is the owner
    assert names(api, "a") == []
