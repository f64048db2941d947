"""Real Envoy routes real demo-app processes as HTTPRoute, VirtualService and TrafficSplit weights say.

Pins: after each of five live HTTPRoute weight changes, the share of 2,000 requests answered by the
canary version is within 4.5 binomial standard deviations of its weight, and not one request fails
across the changes
(traffic never stops); an Istio header match sends only matching requests to the canary; an SMI
TrafficSplit moves all traffic to the backend given all the weight.

The weights are canary steps 10, 20, 30, then 5 and 0: Envoy picks clusters at random, so a window of
2,000 requests has a binomial spread of at most 1.02 points (at 30%). A fixed 3-point bound was only
2.9 sigma there and failed about once in 150 runs (33.15% at 30 was seen); 4.5 sigma (4.6 points at 30%,
0 at 0%) fails by chance about once in 30,000 runs and still catches a weight 10 points off.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from sandbox.mesh import EnvoyMesh, ServicePort
from sandbox.traffic import TrafficGenerator
from sandbox.workloads import WorkloadRunner
from tests.integration.sandbox.conftest import (
    APEX_HOST,
    NAMESPACE,
    all_ready,
    desired,
    endpoints,
    httproute,
    service,
)

pytestmark = pytest.mark.integration

PRIMARY_VERSION, CANARY_VERSION = "1.0.0", "1.1.0"


@pytest.fixture(scope="module")
def backends(runner: WorkloadRunner) -> Iterator[dict[ServicePort, list[tuple[str, int]]]]:
    """Two replicas of the primary (1.0.0) and two of the canary (1.1.0), ready."""
    table: dict[ServicePort, list[tuple[str, int]]] = {}
    for name, version in (("podinfo-primary", PRIMARY_VERSION), ("podinfo-canary", CANARY_VERSION)):
        plan = desired(runner, name, f"demo/podinfo:{version}", replicas=2)
        table[service(name)] = endpoints(runner.run_until(plan.key, plan, all_ready(2)))
    yield table
    runner.stop_all()


def tolerance(weight: int, n: int) -> float:
    """4.5 binomial standard deviations of the canary's share of ``n`` answers, in points: a run of
    this test misses by chance about once in 30,000, while a weight off by 10 points still fails."""
    p = weight / 100
    return 100 * 4.5 * math.sqrt(p * (1 - p) / n)


def test_five_live_httproute_weight_changes_move_the_split_without_failures(
    mesh: EnvoyMesh, backends: dict[ServicePort, list[tuple[str, int]]]
) -> None:
    mesh.apply([httproute({"podinfo-primary": 100, "podinfo-canary": 0})], backends)
    observed: list[tuple[int, float]] = []
    sizes: list[int] = []
    with TrafficGenerator(mesh.listener_url, rps=None, host=APEX_HOST, concurrency=8) as traffic:
        for weight in (10, 20, 30, 5, 0):
            mesh.apply(
                [httproute({"podinfo-primary": 100 - weight, "podinfo-canary": weight})],
                backends,
            )
            window = traffic.window()
            counts = window.wait_for(2000)
            window.close()
            assert counts.by_status == {200: counts.answered}, counts
            assert set(counts.by_version) <= {PRIMARY_VERSION, CANARY_VERSION}
            observed.append((weight, counts.share(CANARY_VERSION)))
            sizes.append(counts.answered)
        total = traffic.stop()
    assert total.failed == 0 and total.transport_errors == 0, total
    for (weight, share), n in zip(observed, sizes, strict=True):
        assert abs(share - weight) <= tolerance(weight, n), (
            f"canary weight {weight}% but {share:.2f}% answered by it: {observed}"
        )
    assert observed[-1][1] == 0.0  # weight 0 takes the canary out entirely


def test_virtualservice_header_match_sends_only_matching_requests_to_the_canary(
    mesh: EnvoyMesh, backends: dict[ServicePort, list[tuple[str, int]]]
) -> None:
    vs = {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": "podinfo", "namespace": NAMESPACE},
        "spec": {
            "hosts": ["podinfo"],
            "http": [
                {
                    "match": [{"headers": {"x-canary": {"exact": "insider"}}}],
                    "route": [{"destination": {"host": "podinfo-canary"}}],
                },
                {
                    "route": [
                        {"destination": {"host": "podinfo-primary"}, "weight": 100},
                        {"destination": {"host": "podinfo-canary"}, "weight": 0},
                    ]
                },
            ],
        },
    }
    mesh.apply([vs], backends)
    plain = _versions(mesh, "podinfo.shop.svc.cluster.local", {}, 40)
    insiders = _versions(mesh, "podinfo", {"X-Canary": "insider"}, 40)
    assert plain == {PRIMARY_VERSION: 40}
    assert insiders == {CANARY_VERSION: 40}


def test_trafficsplit_weights_route_through_envoy(
    mesh: EnvoyMesh, backends: dict[ServicePort, list[tuple[str, int]]]
) -> None:
    split = {
        "apiVersion": "split.smi-spec.io/v1alpha2",
        "kind": "TrafficSplit",
        "metadata": {"name": "podinfo", "namespace": NAMESPACE},
        "spec": {
            "service": "podinfo",
            "backends": [
                {"service": "podinfo-primary", "weight": 0},
                {"service": "podinfo-canary", "weight": 100},
            ],
        },
    }
    mesh.apply([split], backends)
    assert _versions(mesh, "podinfo.shop", {}, 30) == {CANARY_VERSION: 30}


def _versions(mesh: EnvoyMesh, host: str, headers: dict[str, str], count: int) -> dict[str, int]:
    import http.client

    conn = http.client.HTTPConnection(mesh.listener_url.removeprefix("http://"), timeout=5)
    seen: dict[str, int] = {}
    try:
        for _ in range(count):
            conn.request("GET", "/", headers={"Host": host, **headers})
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            version = response.getheader("X-App-Version") or "none"
            seen[version] = seen.get(version, 0) + 1
    finally:
        conn.close()
    return seen
