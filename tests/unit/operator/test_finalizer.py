"""Serinus's own finalizer, kept by the leader's reconcile tick (no kopf finalizer anywhere).

Pins: the leader's first tick of a valid Canary adds ``serinus.dev/finalizer`` with a merge patch
guarded by the resourceVersion read (others' finalizers kept); a follower never adds it, and once it
leads (take-over) its first tick does; a bad spec gets no finalizer; a finalizer write refused as stale
applies nothing; deletion ticks through the core's Terminating flow and ``Finalize`` removes the
finalizer, after which the Canary is gone (the in-memory server, like a real one, deletes it); a
Canary deleted with an invalid spec is released at once.
"""

from __future__ import annotations

import pytest

from controller.core.actions import Finalize
from controller.kube.memory import MemoryObjects
from controller.kube.objects import CANARY, Conflict
from controller.kube.status import FINALIZER, KubeCanaryStatus, StaleStatus
from controller.reconcile import TickResult
from tests.unit.operator.world import NAME, NS, World, canary, deployment


def finalizers(world: World) -> list[str]:
    return list(world.get(CANARY, NAME)["metadata"].get("finalizers") or [])


def delete(world: World) -> None:
    """What a DELETE does to an object with finalizers: only the deletionTimestamp is set."""
    world.objects.objects[(CANARY, NS, NAME)]["metadata"]["deletionTimestamp"] = "2026-01-01T00:10:00Z"


def test_the_leader_adds_the_finalizer_keeping_others() -> None:
    world = World()
    world.create(deployment())
    body = canary()
    body["metadata"]["finalizers"] = ["example.com/keep"]
    world.create(body)
    assert world.tick().outcome == "applied"
    assert finalizers(world) == ["example.com/keep", FINALIZER]
    assert ("merge_patch", "Canary", NS, NAME) in world.objects.writes
    writes = len(world.objects.writes)
    world.tick()
    assert ("merge_patch", "Canary", NS, NAME) not in world.objects.writes[writes:]  # present: no write


def test_a_follower_adds_no_finalizer_and_a_new_leader_does() -> None:
    world = World()
    world.setup()
    world.leader.leading = False
    for _ in range(3):
        assert world.tick().outcome == "not-leader"
    assert finalizers(world) == [] and world.objects.writes == [w for w in world.objects.writes
                                                                 if w[0] == "create"]
    world.leader.leading = True
    world.tick()
    assert finalizers(world) == [FINALIZER]


def test_a_bad_spec_gets_no_finalizer() -> None:
    world = World()
    bad = canary()
    del bad["spec"]["service"]["port"]
    world.create(bad)
    assert world.tick().outcome == "invalid-spec"
    assert finalizers(world) == []


def test_a_stale_finalizer_write_applies_nothing() -> None:
    world = World()
    world.setup()
    world.objects.fail_next("merge_patch", Conflict("stale", 409))
    result = world.tick()
    assert result.outcome == "stale" and result.applied == []
    assert "status" not in world.get(CANARY, NAME)
    assert world.tick().outcome == "applied" and finalizers(world) == [FINALIZER]


def test_deletion_runs_to_finalize_which_removes_the_finalizer() -> None:
    world = World()
    world.setup()
    world.run_until("Initialized")
    assert finalizers(world) == [FINALIZER]
    delete(world)
    results: list[TickResult] = []
    while world.objects.get(CANARY, NS, NAME) is not None and len(results) < 20:
        results.append(world.tick())
    assert world.objects.get(CANARY, NS, NAME) is None, [r.outcome for r in results]
    assert results[-1].finalized and any(isinstance(a, Finalize) for a in results[-1].applied)
    assert [r.outcome for r in results].count("applied") == len(results)
    assert world.tick().outcome == "absent"


def test_an_invalid_canary_being_deleted_is_released() -> None:
    world = World()
    world.setup()
    world.tick()
    stored = world.objects.objects[(CANARY, NS, NAME)]
    del stored["spec"]["service"]["port"]
    delete(world)
    result = world.tick()
    assert result.outcome == "invalid-spec" and result.finalized
    assert world.objects.get(CANARY, NS, NAME) is None


def test_hold_and_release_are_guarded_by_the_resource_version() -> None:
    store = MemoryObjects()
    store.create(CANARY, NS, canary())
    statuses = KubeCanaryStatus(store)
    read = statuses.read(NS, NAME)
    assert read is not None
    store.merge_patch(CANARY, NS, NAME, {"metadata": {"labels": {"edited": "yes"}}})
    with pytest.raises(StaleStatus):
        statuses.hold(read)
    fresh = statuses.read(NS, NAME)
    assert fresh is not None
    held = statuses.hold(fresh)
    assert held["metadata"]["finalizers"] == [FINALIZER]
    store.merge_patch(CANARY, NS, NAME, {"metadata": {"finalizers": [FINALIZER, "example.com/late"]}})
    with pytest.raises(StaleStatus):
        statuses.release(held)  # would drop example.com/late if it were not guarded
    current = statuses.read(NS, NAME)
    assert current is not None
    assert statuses.release(current)["metadata"]["finalizers"] == ["example.com/late"]
