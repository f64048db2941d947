"""Whole reconcile ticks over in-memory ports: what the operator writes, in what order, and what never.

Pins: bootstrap objects; every action kind reaching its adapter; a bad spec touching nothing but the
Canary's status and one event; a stale status write applying nothing and the next tick re-deciding;
a follower writing nothing; the revert outcome reaching the core in the same tick and across a
restart (exactly one revert commit); webhook payloads; metric lookups that fail becoming ERROR
results (never a rollback); manual controls consumed once.
"""

from __future__ import annotations

import copy

from analysis.query import QueryResult
from controller.core.actions import (
    ApplyRevision,
    CallWebhooks,
    EmitEvent,
    EnsurePrimary,
    EnsureServices,
    Finalize,
    PromotePrimary,
    PushRevert,
    ScaleTarget,
    SetWeights,
)
from controller.kube.objects import CANARY, DEPLOYMENT, SERVICE, Conflict
from controller.operator.ports import WebhookReply
from controller.routers.gatewayapi import HTTPROUTE
from tests.unit.operator.world import NAME, NEW, NS, OLD, World, canary

ANALYSIS = {
    "interval": "10s", "threshold": 2, "stepWeight": 25, "maxWeight": 50, "inconclusiveLimit": 3,
    "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"}],
}


def route_weights(world: World) -> tuple[int, int]:
    route = world.get(HTTPROUTE, NAME)
    backends = {b["name"]: b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]}
    return backends[f"{NAME}-primary"], backends[f"{NAME}-canary"]


def bootstrapped(**spec: object) -> World:
    world = World()
    world.setup(**spec)  # type: ignore[arg-type]
    world.run_until("Initialized")
    return world


def test_bootstrap_creates_primary_services_route_and_scales_target_to_zero() -> None:
    world = bootstrapped()
    assert world.image(f"{NAME}-primary") == OLD
    assert world.replicas(NAME) == 0
    for name in (NAME, f"{NAME}-primary", f"{NAME}-canary"):
        world.get(SERVICE, name)
    assert world.get(SERVICE, NAME)["spec"]["selector"] == {"app": f"{NAME}-primary"}
    assert route_weights(world) == (100, 0)
    status = world.status()
    assert status["lastPromotedRevision"] == {"commit": world.git.tip.sha, "image": OLD}
    assert world.get(DEPLOYMENT, f"{NAME}-primary")["metadata"]["ownerReferences"][0]["kind"] == "Canary"


def test_idle_ticks_write_nothing() -> None:
    world = bootstrapped()
    world.settle()
    before = len(world.objects.writes)
    for _ in range(20):
        world.tick(5)
    assert world.objects.writes[before:] == []


def test_healthy_run_promotes_and_applies_every_forward_action_kind() -> None:
    analysis = {**ANALYSIS, "webhooks": [{"name": "done", "type": "post-rollout", "url": "http://hooks/"}]}
    world = bootstrapped(analysis=analysis)
    world.git.commit(NEW)
    world.reconciler.trigger(NS, NAME)
    results = world.run_until("Succeeded", seconds=5)
    applied = {type(a) for r in results for a in r.applied}
    assert {ApplyRevision, SetWeights, PromotePrimary, ScaleTarget, EmitEvent, CallWebhooks} <= applied
    seen = [r.decision.next_status.canary_weight for r in results if r.decision is not None]
    assert 25 in seen and 50 in seen
    assert world.image(f"{NAME}-primary") == NEW
    assert world.replicas(NAME) == 0
    assert route_weights(world) == (100, 0)
    assert world.git.reverts() == []
    assert [c.webhook.name for c in world.webhooks.calls] == ["done"]
    assert world.status()["conditions"][0]["type"] == "Promoted"


def test_the_manifests_whole_pod_template_is_applied_and_promoted() -> None:
    """Serinus is the applier: a commit changing env with the image runs that env, not only the image."""
    world = bootstrapped()
    template = copy.deepcopy(world.get(DEPLOYMENT, NAME)["spec"]["template"])
    template["spec"]["containers"][0]["image"] = NEW
    template["spec"]["containers"][0]["env"] = [{"name": "MODE", "value": "declared-in-git"}]
    world.git.commit(NEW, template)
    world.reconciler.trigger(NS, NAME)
    world.run_until("Succeeded", seconds=5)
    for name in (NAME, f"{NAME}-primary"):
        container = world.get(DEPLOYMENT, name)["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == NEW
        assert container["env"] == [{"name": "MODE", "value": "declared-in-git"}]


def test_failing_checks_roll_back_and_revert_git_once_in_the_same_tick() -> None:
    world = bootstrapped()
    world.prometheus.set("envoy", [42.0])
    failed_commit = world.git.commit(NEW)
    world.reconciler.trigger(NS, NAME)
    results = world.run_until("Failed", seconds=5)
    last = results[-1]
    assert any(isinstance(a, PushRevert) for a in last.applied)
    assert last.passes == 2  # the outcome went straight back to the core
    status = world.status()
    reverts = world.git.reverts()
    assert len(reverts) == 1 and reverts[0].reverts == failed_commit and reverts[0].image == OLD
    assert status["revertCommit"] == reverts[0].sha
    assert "pendingRevert" not in status
    assert route_weights(world) == (100, 0)
    assert world.replicas(NAME) == 0
    assert world.image(f"{NAME}-primary") == OLD  # I1: Git declares what the primary runs
    assert world.git.tip.image == OLD
    for _ in range(10):
        world.tick(5)
    assert len(world.git.reverts()) == 1
    assert world.status()["phase"] == "Failed"


def test_a_quarantined_image_declared_again_is_reverted_as_a_quarantine() -> None:
    """The failed run's revert is an ordinary one; the re-declared image's revert says quarantine."""
    world = bootstrapped()
    world.prometheus.set("envoy", [42.0])
    world.git.commit(NEW)
    world.reconciler.trigger(NS, NAME)
    world.run_until("Failed", seconds=5)
    again = world.git.commit(NEW)
    world.reconciler.trigger(NS, NAME)
    routes = []
    for _ in range(10):
        world.tick(5)
        routes.append((route_weights(world), world.replicas(NAME)))
        if len(world.git.reverts()) == 2:
            break
    requests = world.git.revert_calls
    assert [r.quarantined for r in requests] == [False, True]
    assert requests[-1].reverts == again and world.git.tip.image == OLD
    assert set(routes) == {((100, 0), 0)}  # no canary was started for it: no traffic, target at 0


def test_failed_revert_push_is_retried_and_restart_finds_it_without_a_second_commit() -> None:
    world = bootstrapped()
    world.prometheus.set("envoy", [42.0])
    world.git.commit(NEW)
    world.git.fail_reverts = 1
    world.reconciler.trigger(NS, NAME)
    results = world.run_until("Failed", seconds=5)
    assert results[-1].outcome == "action-failed" and "PushRevert" in results[-1].error
    assert world.status()["pendingRevert"]["toRevision"]["image"] == OLD
    world.tick(1)  # the push succeeds now; the commit lands
    assert len(world.git.reverts()) == 1
    # A crash right after the push, before the confirmation: forge the status back to "pending".
    decision = results[-1].decision
    assert decision is not None
    world.objects.objects[(CANARY, NS, NAME)]["status"].update(
        pendingRevert=decision.next_status.to_dict()["pendingRevert"], revertCommit="")
    world.reconciler = world.new_operator()  # restart: nothing in memory
    result = world.tick(1)
    assert len(world.git.reverts()) == 1
    assert world.status()["revertCommit"] == world.git.reverts()[0].sha
    assert result.passes == 2


def test_invalid_spec_sets_condition_and_one_event_and_touches_nothing_else() -> None:
    world = World()
    bad = canary()
    bad["spec"]["analysis"]["stepWeight"] = 250
    del bad["spec"]["service"]["port"]
    world.create(bad)
    writes = len(world.objects.writes)
    result = world.tick()
    assert result.outcome == "invalid-spec"
    ready = next(c for c in world.status()["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "InvalidSpec"
    assert "spec.analysis.stepWeight" in ready["message"] and "spec.service.port" in ready["message"]
    assert world.objects.writes[writes:] == [("replace_status", "Canary", NS, NAME)]
    assert [e.reason for e in world.events.events.values()] == ["InvalidSpec"]
    for _ in range(5):
        world.tick()
    assert world.objects.writes[writes:] == [("replace_status", "Canary", NS, NAME)]
    assert len(world.events.events) == 1 and world.git.reads == 0


def test_stale_status_write_applies_nothing_and_the_next_tick_decides_again() -> None:
    world = World()
    world.setup()
    world.objects.fail_next("replace_status", Conflict("stale", 409))
    result = world.tick()
    assert result.outcome == "stale" and result.applied == []
    assert world.objects.get(DEPLOYMENT, NS, f"{NAME}-primary") is None
    result = world.tick()
    assert result.outcome == "applied"
    assert {type(a) for a in result.applied} == {EnsurePrimary, EnsureServices}


def test_a_follower_writes_nothing() -> None:
    world = World()
    world.setup()
    world.leader.leading = False
    writes = len(world.objects.writes)
    for _ in range(5):
        assert world.tick().outcome == "not-leader"
    assert world.objects.writes[writes:] == [] and world.git.reads == 0
    world.leader.leading = True
    assert world.tick().outcome == "applied"


def test_gate_webhook_payload_has_flaggers_shape_and_a_closed_gate_holds() -> None:
    analysis = {**ANALYSIS, "webhooks": [
        {"name": "gate", "type": "confirm-rollout", "url": "http://gate/", "metadata": {"team": "shop"}}]}
    world = bootstrapped(analysis=analysis)
    world.webhooks.replies["gate"] = WebhookReply(False, "HTTP 403")
    world.git.commit(NEW)
    world.reconciler.trigger(NS, NAME)
    for _ in range(6):
        world.tick(11)
    assert world.status()["phase"] == "Waiting"
    assert world.replicas(NAME) == 0
    call = world.webhooks.calls[-1]
    assert call.payload == {"name": NAME, "namespace": NS, "phase": "Waiting", "revision": NEW,
                            "commit": world.git.tip.sha, "metadata": {"team": "shop"}}
    world.webhooks.replies.clear()
    world.run_until("Progressing", seconds=11)


def test_metric_template_missing_or_refused_is_an_error_that_holds_and_never_reverts() -> None:
    analysis = {**ANALYSIS, "metrics": [
        {"name": "latency", "templateRef": {"name": "absent"}, "thresholdRange": {"max": 500}},
        {"name": "errors", "templateRef": {"name": "outside"}, "thresholdRange": {"max": 1}},
    ]}
    world = World()
    world.templates.templates[(NS, "outside")] = {
        "metadata": {"name": "outside", "namespace": NS},
        "spec": {"provider": {"type": "prometheus", "address": "http://evil.test:9090"}, "query": "up"}}
    world.setup(analysis=analysis)
    world.run_until("Initialized")
    world.git.commit(NEW)
    world.reconciler.trigger(NS, NAME)
    world.run_until("Paused", seconds=11)
    checks = world.status()["checks"]
    messages = {c["metric"]: c.get("message", "") for c in checks}
    assert "MetricTemplate shop/absent does not exist" in messages["latency"]
    assert "not in the allowlist" in messages["errors"]
    assert {c["verdict"] for c in checks} == {"ERROR"}
    assert world.git.reverts() == [] and world.status()["failedChecks"] == 0
    assert route_weights(world) == (100, 0)


def test_unreachable_prometheus_pauses_without_revert() -> None:
    world = bootstrapped()
    world.prometheus.set("envoy", [QueryResult.error("connection refused")])
    world.git.commit(NEW)
    world.reconciler.trigger(NS, NAME)
    world.run_until("Paused", seconds=11)
    assert world.git.reverts() == [] and route_weights(world) == (100, 0)
    errors = b'serinus_canary_checks_total{name="podinfo",namespace="shop",verdict="ERROR"}'
    assert errors in world.metrics.render()


def test_manual_promote_is_consumed_once_and_its_annotation_cleared() -> None:
    world = bootstrapped()
    world.prometheus.set("envoy", [None])  # inconclusive: the run would hold forever
    world.git.commit(NEW)
    world.reconciler.trigger(NS, NAME)
    world.run_until("Progressing", seconds=5)
    stored = world.get(CANARY, NAME)
    stored["metadata"]["annotations"] = {"serinus.dev/promote": "t-1"}
    world.objects.replace(CANARY, NS, NAME, stored)
    world.run_until("Succeeded", seconds=5)
    assert world.status()["manualTokens"] == {"promote": "t-1"}
    assert "serinus.dev/promote" not in (world.get(CANARY, NAME)["metadata"].get("annotations") or {})
    assert world.image(f"{NAME}-primary") == NEW


def test_deletion_runs_the_terminating_flow_to_finalize() -> None:
    world = bootstrapped()
    stored = world.objects.objects[(CANARY, NS, NAME)]
    stored["metadata"]["deletionTimestamp"] = "2026-01-01T00:10:00Z"
    results = [world.tick() for _ in range(4)]
    assert any(r.finalized for r in results)
    assert any(isinstance(a, Finalize) for r in results for a in r.applied)


def test_git_is_read_at_most_every_source_interval_unless_a_push_arrives() -> None:
    world = bootstrapped()
    reads = world.git.reads
    for _ in range(10):
        world.tick(2)  # 20 s < 30 s interval
    assert world.git.reads == reads
    world.reconciler.trigger(NS, NAME)
    world.tick(1)
    assert world.git.reads == reads + 1 and world.git.refreshes >= 1


def test_own_metrics_show_weight_status_and_runs() -> None:
    world = bootstrapped()
    world.git.commit(NEW)
    world.reconciler.trigger(NS, NAME)
    world.run_until("Succeeded", seconds=5)
    text = world.metrics.render().decode()
    assert 'serinus_canary_status{name="podinfo",namespace="shop"} 1.0' in text
    assert 'serinus_canary_runs_total{name="podinfo",namespace="shop",outcome="succeeded"} 1.0' in text
    value = 'serinus_canary_metric_value{metric="request-success-rate",name="podinfo",namespace="shop"}'
    assert f"{value} 100.0" in text
    assert 'serinus_git_operations_total{op="declared",result="ok"}' in text
    assert 'serinus_canary_duration_seconds_count{name="podinfo",namespace="shop"} 1.0' in text
