"""`serinus run` end to end against the API emulator (real kubernetes client and kopf), a real `git daemon`
and a real Prometheus answering the MetricTemplate's query.

Deployments are marked ready by a test thread writing their status subresource (the emulator runs no
Deployment controller; this is exactly what one does). Pins: bootstrap (primary, three Services,
HTTPRoute at 100/0, target scaled to 0); a committed image runs step by step and is promoted with
healthy checks; a failing one is rolled back and exactly one revert commit lands in the repository,
leaving Git declaring the primary's image (I1); Prometheus unreachable mid-run holds the weight and
pauses after inconclusiveLimit with no revert (I5); two replicas with leader election: one acts.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes.client import CoordinationV1Api
from kubernetes.client.exceptions import ApiException

from sandbox.prometheus import PrometheusServer
from tests.integration.operator.conftest import (
    NAME,
    NEW,
    NS,
    OLD,
    Cluster,
    Fleet,
    Operator,
    deploy,
)
from tests.polling import eventually

HEALTHY, FAILING = "vector(100)", "vector(42)"


def bootstrapped(cluster: Cluster, fleet: Fleet, prometheus: PrometheusServer, tmp_path: Path,
                 operators: list[Operator], **analysis: Any) -> Operator:
    cluster.template(HEALTHY, prometheus.url)
    deploy(cluster, fleet, **analysis)
    op = Operator(cluster, tmp_path, prometheus.url).start()
    operators.append(op)
    eventually(lambda: cluster.phase() == "Initialized", "bootstrap", timeout=60)
    return op


def test_bootstrap_then_promotion_then_rollback_with_one_revert_commit(
        cluster: Cluster, fleet: Fleet, prometheus: PrometheusServer, tmp_path: Path,
        operators: list[Operator]) -> None:
    op = bootstrapped(cluster, fleet, prometheus, tmp_path, operators)
    assert cluster.image(f"{NAME}-primary") == OLD
    eventually(lambda: cluster.replicas(NAME) == 0, "the target scaled to 0")
    for svc in (NAME, f"{NAME}-primary", f"{NAME}-canary"):
        cluster.core.read_namespaced_service(svc, NS)
    assert cluster.route() == (100, 0)

    # A healthy image committed to Git: weights step, then promotion.
    fleet.commit(NEW, "podinfo 6.1.0")
    weights: set[int] = set()

    def promoted() -> bool:
        route = cluster.route()
        if route is not None:
            weights.add(route[1])
        return cluster.phase() == "Succeeded"

    eventually(promoted, "promotion", timeout=90, every=0.05)
    assert {25, 50} <= weights
    assert cluster.image(f"{NAME}-primary") == NEW
    assert cluster.route() == (100, 0)
    eventually(lambda: cluster.replicas(NAME) == 0, "the target scaled to 0 after promotion")
    assert fleet.reverts() == []

    # A failing image: rolled back, and Git reverted exactly once.
    cluster.template(FAILING, prometheus.url)
    bad = "ghcr.io/acme/podinfo:6.2.0-bad"
    bad_commit = fleet.commit(bad, "podinfo 6.2.0")
    eventually(lambda: cluster.phase() == "Failed", "rollback", timeout=90)
    eventually(lambda: cluster.status().get("revertCommit"), "the revert confirmed in status", timeout=30)
    reverts = fleet.reverts()
    assert len(reverts) == 1, reverts
    assert f"Serinus-Reverts: {bad_commit}" in reverts[0]
    assert f"Serinus-Canary: {NS}/{NAME}" in reverts[0]
    assert cluster.status()["revertCommit"] == reverts[0].split()[0]
    assert fleet.declared() == NEW == cluster.image(f"{NAME}-primary")  # I1
    # The status (the intent) is written before the route in the same tick: wait for the route.
    eventually(lambda: cluster.route() == (100, 0), "all traffic back on the primary", timeout=10)
    assert bad in cluster.status()["quarantinedImages"]

    # /metrics and health from the running process.
    with urllib.request.urlopen(f"http://127.0.0.1:{op.port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    assert 'serinus_canary_runs_total{name="podinfo",namespace="shop",outcome="failed"} 1.0' in text
    assert 'serinus_git_operations_total{op="revert",result="Pushed"} 1.0' in text
    with urllib.request.urlopen(f"http://127.0.0.1:{op.port}/readyz", timeout=5) as resp:
        assert resp.status == 200
    assert len(fleet.reverts()) == 1
    assert '"canary": "shop/podinfo"' in op.output() and '"phase": "Failed"' in op.output()


def test_prometheus_unreachable_mid_run_holds_and_pauses_without_revert(
        cluster: Cluster, fleet: Fleet, prometheus: PrometheusServer, tmp_path: Path,
        operators: list[Operator]) -> None:
    bootstrapped(cluster, fleet, prometheus, tmp_path, operators)
    fleet.commit(NEW, "podinfo 6.1.0")
    eventually(lambda: (cluster.route() or (0, 0))[1] == 25, "the first step", timeout=60, every=0.05)
    # The metric server goes away mid-run (a port where nothing listens; the allowlist admits it).
    cluster.template(HEALTHY, prometheus.url.rsplit(":", 1)[0] + ":9")
    eventually(lambda: cluster.phase() == "Paused", "the pause after inconclusiveLimit", timeout=90)
    status = cluster.status()
    assert status["failedChecks"] == 0
    assert {c["verdict"] for c in status["checks"] if c.get("metric") == "success-rate"} >= {"ERROR"}
    # The pause is written to status first (the intent), then the same tick routes everything back.
    eventually(lambda: cluster.route() == (100, 0), "all traffic back on the primary", timeout=10)
    assert fleet.reverts() == [] and fleet.declared() == NEW
    assert cluster.image(f"{NAME}-primary") == OLD


def test_two_replicas_exactly_one_acts(cluster: Cluster, fleet: Fleet, prometheus: PrometheusServer,
                                       tmp_path: Path, operators: list[Operator]) -> None:
    cluster.template(HEALTHY, prometheus.url)
    deploy(cluster, fleet)
    a = Operator(cluster, tmp_path, prometheus.url, identity="op-a", leader_election=True).start()
    b = Operator(cluster, tmp_path, prometheus.url, identity="op-b", leader_election=True).start()
    operators += [a, b]
    eventually(lambda: cluster.phase() == "Initialized", "bootstrap", timeout=60)

    def holder() -> str:
        try:
            lease = CoordinationV1Api(cluster.api).read_namespaced_lease("serinus-leader", NS)
        except ApiException:
            return ""
        return str(lease.spec.holder_identity or "") if lease.spec is not None else ""

    leader = eventually(holder, "a Lease holder")
    fleet.commit(NEW, "podinfo 6.1.0")
    eventually(lambda: cluster.phase() == "Succeeded", "promotion", timeout=90)
    follower = b if leader == a.identity else a
    acting = a if follower is b else b
    # Events are recorded with the acting replica as reportingInstance: only the leader wrote any.
    instances = {e.reporting_instance for e in cluster.core.list_namespaced_event(NS).items
                 if e.involved_object.kind == "Canary"}
    assert instances == {acting.identity}, instances
    # The leader stops: the follower takes over within the lease duration and acts.
    acting.stop()
    eventually(lambda: holder() == follower.identity, "take-over by the follower", timeout=30)
    fleet.commit("ghcr.io/acme/podinfo:6.3.0", "podinfo 6.3.0")
    eventually(lambda: cluster.image(f"{NAME}-primary") == "ghcr.io/acme/podinfo:6.3.0",
               "the follower promoting the next release", timeout=90)


def test_a_canary_at_rest_wakes_on_its_watch_event(
        cluster: Cluster, fleet: Fleet, prometheus: PrometheusServer, tmp_path: Path,
        operators: list[Operator]) -> None:
    """At rest, with a 5-minute Git interval and --resync, no tick reads anything; kopf's watch event
    for an edit of the Canary (here `serinus suspend`'s annotation) wakes it at the next tick."""
    cluster.template(HEALTHY, prometheus.url)
    deploy(cluster, fleet, git_interval="5m")
    op = Operator(cluster, tmp_path, prometheus.url, extra_args=["--resync", "5m"]).start()
    operators.append(op)
    eventually(lambda: cluster.phase() == "Initialized", "bootstrap", timeout=60)
    eventually(lambda: cluster.replicas(NAME) == 0, "the target scaled to 0")
    time.sleep(1.0)  # a few quiet ticks (0.2 s each)
    cluster.objs.patch_namespaced_custom_object(
        "serinus.dev", "v1alpha1", NS, "canaries", NAME,
        {"metadata": {"annotations": {"serinus.dev/suspend": "wake-1"}}})
    eventually(lambda: cluster.status().get("suspended") is True, "the suspension taken at once", timeout=20)
    assert cluster.status()["manualTokens"] == {"suspend": "wake-1"}
    assert cluster.phase() == "Initialized"
