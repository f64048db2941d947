"""Deployments run as real demo-app processes: scaling, crash restarts, rolling updates, image errors.

Pins: scaling changes the number of running processes and of ready replicas (and stopped processes
are gone, checked by PID); a killed process is restarted and its replica is ready again with a
restart counted; a rolling update through real Envoy replaces every process with the new version
while steady traffic sees no failed request; an image missing from the image table gives a replica
reporting ErrImagePull and starts no process.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.mesh import EnvoyMesh
from sandbox.traffic import TrafficGenerator
from sandbox.workloads import ReplicaState, WorkloadRunner
from tests.integration.sandbox.conftest import APEX_HOST, all_ready, desired, endpoints, httproute, service

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    """Whether a process with this PID exists (our children are reaped by the runner, so no zombies)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def fresh_runner(tmp_path: Path) -> Iterator[WorkloadRunner]:
    with WorkloadRunner(tmp_path, drain_seconds=0.3) as runner:
        yield runner


def test_scaling_changes_processes_and_ready_replicas(fresh_runner: WorkloadRunner) -> None:
    three = desired(fresh_runner, "podinfo", "demo/podinfo:1.0.0", replicas=3)
    states = fresh_runner.run_until(three.key, three, all_ready(3))
    pids = {pid for s in states for pid in s.pids}
    assert len(pids) == 3 and all(alive(p) for p in pids)
    assert len({s.port for s in states}) == 3  # each replica on its own port

    one = desired(fresh_runner, "podinfo", "demo/podinfo:1.0.0", replicas=1)
    states = fresh_runner.run_until(one.key, one, all_ready(1))
    kept = set(states[0].pids)
    assert {p for p in pids if alive(p)} == kept

    zero = desired(fresh_runner, "podinfo", "demo/podinfo:1.0.0", replicas=0)
    assert fresh_runner.run_until(zero.key, zero, lambda s: not s) == []
    assert not any(alive(p) for p in pids)


def test_killed_process_is_restarted(fresh_runner: WorkloadRunner) -> None:
    plan = desired(fresh_runner, "podinfo", "demo/podinfo:1.0.0", replicas=2)
    before = fresh_runner.run_until(plan.key, plan, all_ready(2))
    victim = before[0]
    os.kill(victim.pids[0], signal.SIGKILL)

    def restarted(states: list[ReplicaState]) -> bool:
        mine = next(s for s in states if s.pod_name == victim.pod_name)
        return all_ready(2)(states) and mine.restarts == 1

    after = fresh_runner.run_until(plan.key, plan, restarted)
    again = next(s for s in after if s.pod_name == victim.pod_name)
    assert again.pids != victim.pids and alive(again.pids[0])
    assert again.port == victim.port  # same pod, same address: endpoints need not change
    assert sum(s.restarts for s in after) == 1


def test_rolling_update_replaces_processes_without_failed_requests(
    fresh_runner: WorkloadRunner, mesh: EnvoyMesh
) -> None:
    svc = service("podinfo")
    route = httproute({"podinfo": 100}, name="rolling")

    def publish(states: list[ReplicaState]) -> None:
        mesh.apply([route], {svc: endpoints(states)})

    old = desired(fresh_runner, "podinfo", "demo/podinfo:1.0.0", replicas=2)
    old_states = fresh_runner.run_until(old.key, old, all_ready(2), on_states=publish)
    old_pids = {p for s in old_states for p in s.pids}
    new = desired(fresh_runner, "podinfo", "demo/podinfo:1.1.0", replicas=2)
    with TrafficGenerator(mesh.listener_url, rps=200, host=APEX_HOST, concurrency=4) as traffic:
        traffic.window().wait_for(100)
        fresh_runner.run_until(new.key, new, all_ready(2, new.template_hash), on_states=publish)
        after = traffic.window().wait_for(100)
        total = traffic.stop()
    assert total.failed == 0 and total.transport_errors == 0, total
    assert total.by_version.get("1.0.0", 0) >= 100 and total.by_version.get("1.1.0", 0) >= 100
    assert after.by_version == {"1.1.0": after.answered}
    assert not any(alive(p) for p in old_pids)


def test_unknown_image_reports_err_image_pull_and_starts_nothing(fresh_runner: WorkloadRunner) -> None:
    plan = desired(fresh_runner, "podinfo", "ghcr.io/acme/unknown:1.0", replicas=1)
    [state] = fresh_runner.reconcile(plan.key, plan)
    assert (state.ready, state.phase, state.reason) == (False, "Pending", "ErrImagePull")
    assert state.message is not None and "ghcr.io/acme/unknown:1.0" in state.message
    assert state.pids == ()
