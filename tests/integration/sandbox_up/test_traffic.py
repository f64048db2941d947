"""Traffic through the sandbox's mesh follows the route objects, and its metrics reach Prometheus.

Pins:
- an HTTPRoute's backendRefs weights, changed five times live, are served by Envoy without one failed
  request, and the final 80/20 split, measured over 2,000 requests, is within 3 points of the weights;
- the built-in Envoy ``request-success-rate`` query of ``analysis.builtin``, run on the sandbox's
  Prometheus, returns the success rate configured for ``demo/podinfo:1.2.0`` (80%) within 2 points for
  the canary, and 100% for the primary on ``1.0.0``;
- the app pods are scraped through the file-based discovery, labelled namespace/pod/deployment;
- the sandbox's own steady traffic generator (demo host) sees the answers.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

from analysis.builtin import render_builtin, render_requests
from analysis.template import TemplateContext
from sandbox.config import load_sandbox_config
from sandbox.session import Sandbox
from sandbox.traffic import TrafficGenerator
from tests.integration.sandbox_up.conftest import deployment, eventually, httproute, service

pytestmark = pytest.mark.integration


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def served_weights(sandbox: Sandbox, host: str) -> dict[str, int]:
    """``{cluster: weight}`` Envoy serves for ``host`` right now (from its admin config dump)."""
    dump = _get_json(f"{sandbox.envoy_admin_url}/config_dump?resource=dynamic_route_configs")
    for config in dump.get("configs", []):
        for vhost in config.get("route_config", {}).get("virtual_hosts", []):
            if host in vhost.get("domains", []):
                route = vhost["routes"][0]["route"]
                if "cluster" in route:
                    return {route["cluster"]: 1}
                return {c["name"]: int(c.get("weight", 0)) for c in route["weighted_clusters"]["clusters"]}
    return {}


def _ready(sandbox: Sandbox, *names: str) -> None:
    for name in names:

        def ready(name: str = name) -> bool:
            found = sandbox.get("apps/v1", "Deployment", name) or {}
            return bool((found.get("status") or {}).get("readyReplicas") == 1)

        eventually(ready, f"Deployment {name} ready")


def test_weight_changes_move_the_split_without_failed_requests(sandbox: Sandbox) -> None:
    host = "split.sandbox.local"
    ns = sandbox.namespace
    sandbox.apply(
        [
            deployment("blue", "demo/podinfo:1.0.0"),
            deployment("green", "demo/podinfo:1.1.0"),
            service("blue", {"app": "blue"}),
            service("green", {"app": "green"}),
        ]
    )
    _ready(sandbox, "blue", "green")
    changes = [(100, 0), (50, 50), (0, 100), (30, 70), (80, 20)]
    sandbox.apply(httproute("split", host, {"blue": changes[0][0], "green": changes[0][1]}))
    eventually(
        lambda: served_weights(sandbox, host).get(f"{ns}_blue_9898") == 100, "the first weights served"
    )
    with TrafficGenerator(sandbox.envoy_url, rps=None, host=host, concurrency=2) as traffic:
        during = traffic.window()
        for blue, green in changes[1:]:
            time.sleep(0.5)
            sandbox.apply(httproute("split", host, {"blue": blue, "green": green}))
            expected = {f"{ns}_blue_9898": blue, f"{ns}_green_9898": green}

            def served(expected: dict[str, int] = expected) -> bool:
                weights = served_weights(sandbox, host)
                return {k: v for k, v in weights.items() if v} == {k: v for k, v in expected.items() if v}

            eventually(served, f"weights {blue}/{green} served")
        window = traffic.window()
        final = window.wait_for(2000, timeout=60)
        window.close()
        changed = during.close()
    assert final.failed == 0, final
    assert changed.failed == 0, changed
    assert final.answered >= 2000
    assert abs(final.share("1.0.0") - 80) <= 3, final.by_version
    assert abs(final.share("1.1.0") - 20) <= 3, final.by_version


def _query(sandbox: Sandbox, promql: str) -> list[dict[str, Any]]:
    url = f"{sandbox.prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    result: list[dict[str, Any]] = _get_json(url)["data"]["result"]
    return result


def _value(sandbox: Sandbox, promql: str) -> float | None:
    result = _query(sandbox, promql)
    return float(result[0]["value"][1]) if len(result) == 1 else None


def test_builtin_success_rate_on_sandbox_prometheus_matches_the_image_error_rate(sandbox: Sandbox) -> None:
    expected_errors = float(load_sandbox_config().resolve("demo/podinfo:1.2.0").settings["error_rate"]) * 100
    sandbox.apply(
        [
            deployment("podinfo-primary", "demo/podinfo:1.0.0", labels={"app": "podinfo-primary"}),
            deployment("podinfo", "demo/podinfo:1.2.0", labels={"app": "podinfo"}),
            service("podinfo-primary", {"app": "podinfo-primary"}),
            service("podinfo-canary", {"app": "podinfo"}),
        ]
    )
    _ready(sandbox, "podinfo-primary", "podinfo")
    # routed only once both serve: a route to a backend without endpoints answers 503 (as in a cluster)
    sandbox.apply(httproute("podinfo", sandbox.demo_host, {"podinfo-primary": 50, "podinfo-canary": 50}))
    cluster = f"{sandbox.namespace}_podinfo-canary_9898"
    eventually(lambda: served_weights(sandbox, sandbox.demo_host).get(cluster) == 50, "the route served")
    context = TemplateContext(
        name="podinfo", namespace=sandbox.namespace, target="podinfo", service="podinfo", interval="10s"
    )
    canary_rate = render_builtin("envoy", "request-success-rate", context, role="canary")
    primary_rate = render_builtin("envoy", "request-success-rate", context, role="primary")
    canary_requests = render_requests("envoy", context, role="canary")
    with TrafficGenerator(sandbox.envoy_url, rps=100, host=sandbox.demo_host, concurrency=2):
        eventually(lambda: (_value(sandbox, canary_requests) or 0) >= 300, "300 canary requests in 10s", 60)
        canary = _value(sandbox, canary_rate)
        primary = _value(sandbox, primary_rate)
    assert canary is not None and primary is not None
    assert abs(canary - (100 - expected_errors)) <= 2.0, f"canary success rate {canary:.2f}%: {canary_rate}"
    assert primary == pytest.approx(100.0)

    # the app pods themselves are scraped, found through the file-based discovery
    scraped = eventually(
        lambda: _query(sandbox, 'up{job="pods", deployment="podinfo"} == 1') or None,
        "the podinfo pod scraped",
    )
    labels = scraped[0]["metric"]
    assert labels["namespace"] == sandbox.namespace
    assert labels["pod"].startswith("podinfo-")
    app_requests = _value(sandbox, 'sum(http_requests_total{deployment="podinfo"})')
    assert app_requests is not None and app_requests > 0

    # and the sandbox's steady generator, sending to the demo host all along, saw both versions
    counts = sandbox.traffic_counts()
    assert counts.by_version.get("1.0.0", 0) > 0 and counts.by_version.get("1.2.0", 0) > 0, counts
