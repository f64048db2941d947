"""The controller killed with SIGKILL at random points of a run resumes from status and ends the same way.

20 seeded trials: 12 against the API emulator and 8 on the real control plane (its controller manager
and the process node running the Deployments), a real `git daemon` and the real Prometheus (the
MetricTemplate's query is a constant, `vector(100)` for a healthy release and `vector(42)` for a
failing one, so the outcome is known). In each trial `serinus run` is killed 1 to 3 times at random
instants after the commit that starts the run, and restarted each time. On the emulator Deployments
are marked ready by a test thread writing their status subresource (it runs no Deployment controller).

Pins, whatever the kill points: the run completes; a healthy release is promoted exactly once (one
run, no revert); a failing release is rolled back with exactly one revert commit for the failed
commit, confirmed in status (I2, I4); at the end Git declares the image the primary runs (I1) and the
mesh routes 100/0.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from sandbox.prometheus import PrometheusServer
from tests.integration.operator.conftest import (
    NAME,
    NEW,
    OLD,
    Cluster,
    Fleet,
    Operator,
    deploy,
)
from tests.polling import eventually

BAD = "ghcr.io/acme/podinfo:6.2.0-bad"
SEEDS = range(12)  # 20 trials in all (the issue asked for at least 20): 12 here, about 7 s each,
REAL_SEEDS = range(12, 20)  # and 8 on the real control plane, about 15 s each (real Pods start)
TRIALS = [pytest.param("emulator", seed, id=f"emulator-{seed}") for seed in SEEDS] + [
    pytest.param("kubernetes", seed, id=f"kubernetes-{seed}", marks=pytest.mark.real_control_plane)
    for seed in REAL_SEEDS
]


def _finished(cluster: Cluster, failing: bool) -> bool:
    status = cluster.status()
    if failing:
        return status.get("phase") == "Failed" and bool(status.get("revertCommit"))
    return status.get("phase") == "Succeeded"


@pytest.mark.parametrize(("cluster", "seed"), TRIALS, indirect=["cluster"])
def test_sigkill_at_random_points_of_a_run(seed: int, *, cluster: Cluster, fleet: Fleet,
                                           prometheus: PrometheusServer, tmp_path: Path,
                                           operators: list[Operator]) -> None:
    rng = random.Random(seed)
    failing = seed % 2 == 1
    cluster.template("vector(42)" if failing else "vector(100)", prometheus.url)
    deploy(cluster, fleet)
    op = Operator(cluster, tmp_path, prometheus.url, tick="0.2s").start()
    operators.append(op)
    eventually(lambda: cluster.phase() == "Initialized", "bootstrap", timeout=60)

    image = BAD if failing else NEW
    started = fleet.commit(image, f"release {image}")
    killed_in: list[str] = []
    for _ in range(rng.randint(1, 3)):
        time.sleep(rng.uniform(0.0, 2.5))
        if _finished(cluster, failing):
            break
        op.kill()
        killed_in.append(cluster.phase())
        op.start()
    eventually(lambda: _finished(cluster, failing), "the run to finish after restarts", timeout=120)

    # Let a few more ticks pass: a finished run stays finished and nothing is written twice.
    time.sleep(1.5)
    status = cluster.status()
    assert status["runCount"] == 1, status
    # A failed run writes Failed (the intent) before routing back in the same tick: wait for the route.
    eventually(lambda: cluster.route() == (100, 0), "all traffic on the primary", timeout=10)
    reverts = fleet.reverts()
    if failing:
        assert status["phase"] == "Failed"
        assert len(reverts) == 1, reverts
        assert f"Serinus-Reverts: {started}" in reverts[0]
        assert status["revertCommit"] == reverts[0].split()[0]
        assert status["lastPromotedRevision"]["image"] == OLD
        assert BAD in status["quarantinedImages"]
    else:
        assert status["phase"] == "Succeeded"
        assert reverts == []
        assert status["lastPromotedRevision"] == {"commit": started, "image": NEW}
    assert fleet.declared() == cluster.image(f"{NAME}-primary")  # I1
    eventually(lambda: cluster.replicas(NAME) == 0, "the target scaled to 0")
    print(f"seed {seed}: {'failing' if failing else 'healthy'}, killed in {killed_in}")
