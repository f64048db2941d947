"""Workload planning: a Deployment becomes the right desired processes, and rollouts step like Kubernetes.

Pins: the pod template hash follows the template only; an image missing from the image table is
carried as an ErrImagePull-style error, not raised; scaling starts and stops the right replicas
(not-ready and newest first on scale-down); a rolling update starts new replicas within maxSurge and
never takes availability below ``replicas - maxUnavailable``; Recreate stops the old first; the
Deployment status counts what a Deployment controller would.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.config import parse_sandbox_config
from sandbox.workloads import deployment_status, plan_rollout, workload_from_deployment
from sandbox.workloads.plan import (
    DesiredWorkload,
    ReplicaView,
    StartReplica,
    TerminateReplica,
    WorkloadSpecError,
)
from sandbox.workloads.state import ReplicaState

CONFIG = parse_sandbox_config(
    {
        "commands": {"app": ["{python}", "-m", "app", "--port", "{port}", "--version", "{tag}"]},
        "images": {"demo/podinfo:1.0.0": {"command": "app"}, "demo/podinfo:1.1.0": {"command": "app"}},
    }
)


def deployment(image: str = "demo/podinfo:1.0.0", replicas: int = 2, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "podinfo", "namespace": "shop", "generation": 3},
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"labels": {"app": "podinfo"}},
                "spec": {
                    "containers": [
                        {
                            "name": "podinfo",
                            "image": image,
                            "ports": [{"containerPort": 9898, "name": "http"}],
                        }
                    ]
                },
            },
            **spec,
        },
    }


def test_deployment_becomes_desired_workload() -> None:
    desired = workload_from_deployment(deployment(), CONFIG)
    assert desired.key == "shop/podinfo"
    assert desired.replicas == 2
    assert desired.generation == 3
    [container] = desired.containers
    assert container.command is not None
    assert container.command.argv(container.image, 5000)[-4:] == ["--port", "5000", "--version", "1.0.0"]
    assert container.readiness_path == "/healthz"
    assert container.port_names == (9898, "http")
    assert (desired.max_surge, desired.max_unavailable) == (1, 0)  # 25% of 2, rounded up / down


def test_template_hash_follows_the_template_not_the_replica_count() -> None:
    base = workload_from_deployment(deployment(replicas=2), CONFIG).template_hash
    assert workload_from_deployment(deployment(replicas=5), CONFIG).template_hash == base
    assert workload_from_deployment(deployment(image="demo/podinfo:1.1.0"), CONFIG).template_hash != base
    assert len(base) == 10


def test_readiness_probe_path_of_the_container_wins() -> None:
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {
        "httpGet": {"path": "/readyz", "port": 9898}
    }
    assert workload_from_deployment(dep, CONFIG).containers[0].readiness_path == "/readyz"


def test_unknown_image_is_carried_as_an_image_pull_error() -> None:
    desired = workload_from_deployment(deployment(image="ghcr.io/acme/unknown:9"), CONFIG)
    assert desired.containers[0].command is None
    assert desired.image_error is not None
    assert "'ghcr.io/acme/unknown:9' is not in the sandbox config" in desired.image_error
    assert "demo/podinfo:1.0.0" in desired.image_error  # names the known images


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["spec"].update(replicas=-1), "spec.replicas must be a non-negative integer"),
        (lambda d: d["spec"]["template"]["spec"].update(containers=[]), "at least one container"),
        (lambda d: d["spec"].update(strategy={"type": "BlueGreen"}), "spec.strategy.type"),
        (
            lambda d: d["spec"].update(strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}),
            "cannot both be 0",
        ),
        (lambda d: d["spec"].update(strategy={"rollingUpdate": {"maxSurge": "lots"}}), "maxSurge must be"),
    ],
)
def test_bad_deployments_fail_naming_the_field(mutate: Any, message: str) -> None:
    dep = deployment()
    mutate(dep)
    with pytest.raises(WorkloadSpecError, match="Deployment shop/podinfo") as exc:
        workload_from_deployment(dep, CONFIG)
    assert message in str(exc.value)


def desired_of(
    replicas: int, template_hash: str = "new", surge: int = 1, unavailable: int = 0
) -> DesiredWorkload:
    return DesiredWorkload(
        key="shop/podinfo",
        name="podinfo",
        replicas=replicas,
        template_hash=template_hash,
        containers=(),
        max_surge=surge,
        max_unavailable=unavailable,
    )


def view(name: str, template_hash: str = "new", ready: bool = True, created: float = 0.0) -> ReplicaView:
    return ReplicaView(name, template_hash, ready, False, created)


def test_scale_up_starts_the_missing_replicas() -> None:
    assert plan_rollout(desired_of(3), [view("a")]) == [StartReplica("new"), StartReplica("new")]


def test_scale_down_stops_not_ready_then_newest() -> None:
    current = [
        view("a", created=1),
        view("b", created=3),
        view("c", ready=False, created=2),
        view("d", created=4),
    ]
    assert plan_rollout(desired_of(2), current) == [TerminateReplica("c"), TerminateReplica("d")]


def test_scale_to_zero_stops_everything() -> None:
    current = [view("a"), view("b", "old")]
    assert set(plan_rollout(desired_of(0), current)) == {TerminateReplica("a"), TerminateReplica("b")}


def test_rolling_update_keeps_the_old_replica_until_the_new_one_is_ready() -> None:
    desired = desired_of(1)
    assert plan_rollout(desired, [view("old1", "old")]) == [StartReplica("new")]
    assert plan_rollout(desired, [view("old1", "old"), view("new1", ready=False)]) == []
    assert plan_rollout(desired, [view("old1", "old"), view("new1")]) == [TerminateReplica("old1")]


def test_terminating_replicas_are_not_counted_or_stopped_twice() -> None:
    draining = ReplicaView("old1", "old", False, True)
    assert plan_rollout(desired_of(1), [draining, view("new1")]) == []


def test_recreate_stops_old_first_and_starts_new_once_they_are_gone() -> None:
    desired = DesiredWorkload("shop/podinfo", "podinfo", 2, "new", (), 0, 0, "Recreate")
    assert plan_rollout(desired, [view("a", "old"), view("b", "old")]) == [
        TerminateReplica("a"),
        TerminateReplica("b"),
    ]
    assert plan_rollout(desired, [ReplicaView("a", "old", False, True)]) == []
    assert plan_rollout(desired, []) == [StartReplica("new"), StartReplica("new")]


@settings(max_examples=200, deadline=None)
@given(
    replicas=st.integers(min_value=1, max_value=8),
    old_count=st.integers(min_value=0, max_value=8),
    surge=st.integers(min_value=0, max_value=3),
    unavailable=st.integers(min_value=0, max_value=3),
)
def test_rolling_update_converges_within_surge_and_availability_bounds(
    replicas: int, old_count: int, surge: int, unavailable: int
) -> None:
    """Simulate: started replicas become ready one step later; terminated ones vanish at once."""
    if surge == 0 and unavailable == 0:
        surge = 1
    desired = desired_of(replicas, surge=surge, unavailable=unavailable)
    names = (f"r{i}" for i in itertools.count())
    current = [view(next(names), "old") for _ in range(old_count)]
    floor = min(old_count, replicas - unavailable)
    for _ in range(50):
        actions = plan_rollout(desired, current)
        if not actions and all(r.ready for r in current):
            break
        stopped = {a.pod_name for a in actions if isinstance(a, TerminateReplica)}
        survivors = [r for r in current if r.pod_name not in stopped]
        assert sum(r.ready for r in survivors) >= floor, "availability fell below replicas - maxUnavailable"
        current = [ReplicaView(r.pod_name, r.template_hash, True) for r in survivors]
        current += [
            view(next(names), a.template_hash, ready=False) for a in actions if isinstance(a, StartReplica)
        ]
        assert len(current) <= max(replicas + surge, old_count), "more replicas than replicas + maxSurge"
    assert sorted(r.template_hash for r in current) == ["new"] * replicas
    assert all(r.ready for r in current)


def state(name: str, template_hash: str, ready: bool, terminating: bool = False) -> ReplicaState:
    return ReplicaState(name, "shop/podinfo", template_hash, "127.0.0.1", 1, {}, ready, 0, "Running",
                        None, None, terminating, (), 0.0)  # fmt: skip


def test_deployment_status_counts_like_the_deployment_controller() -> None:
    desired = workload_from_deployment(deployment(replicas=2), CONFIG)
    h = desired.template_hash
    mid_rollout = [
        state("a", "old", True),
        state("b", h, True),
        state("c", h, False),
        state("d", "old", False, True),
    ]
    status = deployment_status(desired, mid_rollout, "2026-01-01T00:00:00Z")
    assert {k: status[k] for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")} == {
        "replicas": 3,
        "updatedReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
    }
    assert status["observedGeneration"] == 3
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "ReplicaSetUpdated"
    done = deployment_status(desired, [state("b", h, True), state("c", h, True)], "2026-01-01T00:00:00Z")
    assert (
        next(c for c in done["conditions"] if c["type"] == "Progressing")["reason"]
        == "NewReplicaSetAvailable"
    )
    assert next(c for c in done["conditions"] if c["type"] == "Available")["status"] == "True"
    none_ready = deployment_status(desired, [state("b", h, False)], "2026-01-01T00:00:00Z")
    assert next(c for c in none_ready["conditions"] if c["type"] == "Available")["status"] == "False"


def test_planning_does_not_mutate_the_deployment() -> None:
    dep = deployment()
    before = copy.deepcopy(dep)
    workload_from_deployment(dep, CONFIG)
    assert dep == before
