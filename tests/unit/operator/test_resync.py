"""A Canary at rest reuses its last look at the Deployments and route (``--resync``), and needs no
tick at all until that look expires or Git is due, unless the Canary is written (a watch event).

Pins: idle ticks at rest read nothing until ``resync`` or the Git interval passes, then the Canary
(and, at ``resync``, the Deployments and route) once; any write to the Canary (the world delivers it
to ``touched`` as kopf's watch does), a push webhook, or a run in progress reads everything again at
once; drift at rest (a scaled-up target, an edited route, a deleted primary) is repaired within
``resync``; ``resync=0`` reads every tick as before. The world's Git interval is 30 s.
"""

from __future__ import annotations

from dataclasses import replace

from controller.core.actions import EnsurePrimary, ScaleTarget, SetWeights
from controller.kube.objects import CANARY, DEPLOYMENT
from controller.routers.gatewayapi import HTTPROUTE
from tests.unit.operator.test_reconcile import route_weights
from tests.unit.operator.world import NAME, NEW, NS, World, canary, deployment

PRIMARY = f"{NAME}-primary"


def at_rest(resync: float = 30.0) -> World:
    world = World()
    world.reconciler.settings = replace(world.reconciler.settings, resync=resync)
    world.setup()
    world.run_until("Initialized")
    world.tick()  # the first idle tick: nothing to do, so its look is kept
    return world


def reads_during(world: World, ticks: int, seconds: float = 2.0) -> list[tuple[str, str, str]]:
    before = len(world.objects.reads)
    for _ in range(ticks):
        world.tick(seconds)
    return world.objects.reads[before:]


def kinds(reads: list[tuple[str, str, str]]) -> list[str]:
    return sorted({kind for kind, _ns, _name in reads})


def test_idle_ticks_at_rest_read_nothing_until_resync() -> None:
    world = at_rest(resync=30)
    before = len(world.objects.reads)
    results = [world.tick() for _ in range(10)]  # 20 s
    assert {r.outcome for r in results} == {"at-rest"}
    assert len(world.objects.reads) == before
    # Past 30 s: Git is due (a tick reading only the Canary) and the look expires (one full look),
    # then quiet again.
    reads = reads_during(world, 6)  # 32 s in all
    assert sorted(r for r in reads if r[0] != "Canary") == [
        ("Deployment", NS, NAME), ("Deployment", NS, PRIMARY), ("HTTPRoute", NS, NAME)]
    assert 1 <= reads.count(("Canary", NS, NAME)) <= 2, reads
    assert reads_during(world, 5) == []


def test_a_shorter_git_interval_ends_the_quiet_with_a_canary_read_only() -> None:
    world = World()
    world.reconciler.settings = replace(world.reconciler.settings, resync=60)
    body = canary()
    body["spec"]["source"]["git"]["interval"] = "10s"
    world.create(deployment())
    world.create(body)
    world.run_until("Initialized")
    world.tick()
    reads = reads_during(world, 15)  # 30 s: Git is read every 10 s, the look stands for 60 s
    assert set(reads) == {("Canary", NS, NAME)}
    assert 2 <= len(reads) <= 3, reads


def test_resync_zero_reads_the_deployments_and_route_every_tick() -> None:
    world = at_rest(resync=0)
    reads = reads_during(world, 5)
    assert kinds(reads) == ["Canary", "Deployment", "HTTPRoute"]
    assert sum(1 for r in reads if r[0] == "Deployment") == 10


def test_a_write_to_the_canary_reads_everything_at_once() -> None:
    world = at_rest()
    body = world.get(CANARY, NAME)
    body["metadata"].setdefault("labels", {})["team"] = "shop"
    world.objects.replace(CANARY, NS, NAME, body)
    reads = reads_during(world, 1)
    assert kinds(reads) == ["Canary", "Deployment", "HTTPRoute"]
    assert reads_during(world, 3) == []  # and the new look is kept, quiet again


def test_a_manual_control_at_rest_is_acted_on_at_the_next_tick() -> None:
    world = at_rest(resync=3600)
    body = world.get(CANARY, NAME)
    body["metadata"].setdefault("annotations", {})["serinus.dev/suspend"] = "t1"
    world.objects.replace(CANARY, NS, NAME, body)
    result = world.tick()
    assert result.outcome != "at-rest"


def test_a_new_commit_starts_the_run_without_waiting_for_resync() -> None:
    world = at_rest(resync=3600)
    world.git.commit(NEW)
    world.reconciler.trigger(NS, NAME)  # a push webhook: Git is read at this tick
    world.run_until("Progressing", limit=3)
    assert world.image(NAME) == NEW
    # During the run every tick looks again: readiness and weights must be fresh.
    reads = reads_during(world, 3)
    assert sum(1 for r in reads if r[0] == "Deployment") >= 6  # both, every tick (actions read more)


def test_drift_at_rest_is_repaired_within_resync() -> None:
    world = at_rest(resync=10)
    # Someone scales the target up, edits the route and deletes the primary behind Serinus's back.
    world.objects.scale(DEPLOYMENT, NS, NAME, 3)
    route = world.get(HTTPROUTE, NAME)
    for ref in route["spec"]["rules"][0]["backendRefs"]:
        ref["weight"] = 50
    world.objects.replace(HTTPROUTE, NS, NAME, route)
    del world.objects.objects[(DEPLOYMENT, NS, PRIMARY)]

    applied = []
    for _ in range(6):  # 12 s > resync
        applied += [type(a) for a in world.tick().applied]
    assert {ScaleTarget, SetWeights, EnsurePrimary} <= set(applied)
    assert world.replicas(NAME) == 0
    assert route_weights(world) == (100, 0)
    assert world.get(DEPLOYMENT, PRIMARY)["spec"]["template"]["spec"]["containers"][0]["image"]
    # Each repair happened once: the tick that acted dropped its look, the next one read the result.
    assert applied.count(ScaleTarget) == 1 and applied.count(EnsurePrimary) == 1
    assert world.status()["phase"] == "Initialized"
