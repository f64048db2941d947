"""Fixtures for the sandbox integration tests: one real Envoy per session, a process runner per module."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from sandbox.mesh import EnvoyMesh, ServicePort
from sandbox.workloads import DesiredWorkload, ReplicaState, WorkloadRunner, workload_from_deployment

NAMESPACE = "shop"
PORT = 9898
APEX_HOST = "podinfo.shop"


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvoyMesh]:
    with EnvoyMesh(tmp_path_factory.mktemp("envoy")) as envoy:
        yield envoy


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkloadRunner]:
    with WorkloadRunner(tmp_path_factory.mktemp("workloads"), drain_seconds=0.3) as workloads:
        yield workloads


def deployment(name: str, image: str, replicas: int = 1) -> dict[str, Any]:
    """An apps/v1 Deployment of one demo-app container in the test namespace."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": PORT}]}]},
            },
        },
    }


def desired(runner: WorkloadRunner, name: str, image: str, replicas: int = 1) -> DesiredWorkload:
    """The runner's plan for :func:`deployment`."""
    return workload_from_deployment(deployment(name, image, replicas), runner.config)


def all_ready(count: int, template_hash: str | None = None) -> Any:
    """A ``run_until`` predicate: exactly ``count`` replicas, all ready (of ``template_hash`` if given)."""

    def done(states: list[ReplicaState]) -> bool:
        return len(states) == count and all(
            s.ready and (template_hash is None or s.template_hash == template_hash) for s in states
        )

    return done


def endpoints(states: Sequence[ReplicaState]) -> list[tuple[str, int]]:
    """The ready replicas' addresses, as an Endpoints object would list them."""
    return [(s.ip, s.ports[PORT]) for s in states if s.ready]


def service(name: str) -> ServicePort:
    """The test namespace's Service ``name`` on the demo port."""
    return ServicePort(NAMESPACE, name, PORT)


def httproute(weights: Mapping[str, int], name: str = "podinfo") -> dict[str, Any]:
    """An HTTPRoute for the apex host sending to each Service with its weight."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "hostnames": [APEX_HOST],
            "rules": [
                {"backendRefs": [{"name": svc, "port": PORT, "weight": w} for svc, w in weights.items()]}
            ],
        },
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
