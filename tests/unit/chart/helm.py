"""The real helm binary driving charts/serinus: render manifests for a set of values, lint, and
collect the errors helm reports. Shared by the chart's unit and integration tests.

helm is installed by `./dev setup` at <repo>/.tools/bin/helm; a missing helm fails the test with a
message naming `./dev setup` (never a skip: the chart checks are part of the suite).
"""

from __future__ import annotations

import functools
import json
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox import chart

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "serinus"
RELEASE = "serinus"
NAMESPACE = "serinus-system"

Manifest = dict[str, Any]

# Value combinations the checks run across; each name says what it exercises.
COMBINATIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced-1": {"watchNamespaces": ["team-a"]},
    "namespaced-3": {"watchNamespaces": ["team-a", "team-b", "team-c"]},
    "cluster-wide": {"clusterWide": True},
    "single-no-leader-election": {"leaderElection": {"enabled": False}, "replicaCount": 1},
    "service-monitor": {"serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus"}}},
    "pdb": {"podDisruptionBudget": {"enabled": True}},
    "no-providers": {"providers": {"gatewayapi": False, "istio": False, "smi": False, "nginx": False}},
    "gatewayapi-only": {"providers": {"gatewayapi": True, "istio": False, "smi": False, "nginx": False}},
    "istio-only": {"providers": {"gatewayapi": False, "istio": True, "smi": False, "nginx": False}},
    "smi-only": {"providers": {"gatewayapi": False, "istio": False, "smi": True, "nginx": False}},
    "nginx-only": {"providers": {"gatewayapi": False, "istio": False, "smi": False, "nginx": True}},
    "named-secrets": {
        "git": {"secretNames": ["fleet-git"]},
        "metrics": {"secretNames": ["prom-auth", "fleet-git"]},
    },
    "lease-elsewhere": {
        "leaderElection": {"leaseNamespace": "serinus-leases"},
        "watchNamespaces": ["team-a"],
    },
    "webhook-secret": {"git": {"webhook": {"secretName": "git-hook", "secretKey": "hmac"}}},
    # Every option at once: the strict lint combination.
    "everything": {
        "fullnameOverride": "serinus-ctl",
        "image": {
            "repository": "registry.example/serinus",
            "tag": "0.1.0",
            "digest": "sha256:" + "ab" * 32,
            "pullPolicy": "Always",
        },
        "imagePullSecrets": [{"name": "regcred"}],
        "replicaCount": 3,
        "leaderElection": {"enabled": True, "leaseName": "serinus-lock", "leaseNamespace": "serinus-leases"},
        "watchNamespaces": ["team-a", "team-b", "team-c"],
        "providers": {"gatewayapi": True, "istio": True, "smi": True, "nginx": True},
        "metrics": {
            "port": 9090,
            "server": "https://prometheus.example:9091/prefix",
            "allowlist": ["http://thanos.monitoring:9090", "https://mimir.example/prometheus"],
            "secretNames": ["prom-auth"],
        },
        "git": {
            "author": "Release Bot <release-bot@example.org>",
            "cacheDir": "/cache/git",
            "cacheSizeLimit": "2Gi",
            "secretNames": ["fleet-git", "fleet-ssh"],
            "webhook": {"envName": "HOOK_SECRET", "secretName": "git-hook", "secretKey": "hmac"},
        },
        "tick": "1s500ms",
        "resync": "2m",
        "logFormat": "text",
        "serviceAccount": {"create": True, "name": "serinus-sa", "annotations": {"example.org/role": "ctl"}},
        "service": {
            "type": "ClusterIP",
            "metricsPort": 8443,
            "webhookPort": 8081,
            "annotations": {"example.org/scrape": "true"},
        },
        "serviceMonitor": {
            "enabled": True,
            "interval": "15s",
            "scrapeTimeout": "5s",
            "labels": {"release": "kube-prometheus"},
        },
        "podDisruptionBudget": {"enabled": True, "minAvailable": 2},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": {"runAsUser": 20000, "runAsGroup": 20000, "fsGroup": 20000},
        "podAnnotations": {"example.org/team": "platform"},
        "podLabels": {"team": "platform"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "platform", "effect": "NoSchedule"}
        ],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}
                            ]
                        }
                    ]
                }
            }
        },
        "priorityClassName": "system-cluster-critical",
    },
}


def helm_binary() -> Path:
    """The helm CLI (``sandbox.chart.helm_binary``); fails the test, naming ./dev setup, if absent."""
    try:
        return chart.helm_binary()
    except chart.ChartError as exc:
        pytest.fail(str(exc), pytrace=False)


def run_helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helm with a private, empty home so no user configuration or repository leaks in."""
    with tempfile.TemporaryDirectory(prefix="serinus-helm-") as home:
        proc = subprocess.run(
            [str(helm_binary()), *args], capture_output=True, text=True, env=chart.helm_env(home), timeout=60,
            check=False,
        )  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def _values_file(values: Mapping[str, Any], directory: str) -> str:
    # JSON is YAML: values reach helm exactly typed (no --set string/number guessing).
    path = Path(directory) / "values.json"
    path.write_text(json.dumps(values))
    return str(path)


@functools.lru_cache(maxsize=64)
def _template(values_json: str, namespace: str, include_crds: bool) -> str:
    with tempfile.TemporaryDirectory(prefix="serinus-values-") as tmp:
        args = [
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            namespace,
            "-f",
            _values_file(json.loads(values_json), tmp),
        ]
        if include_crds:
            args.append("--include-crds")
        return run_helm(*args).stdout


def render_text(
    values: Mapping[str, Any] | None = None, namespace: str = NAMESPACE, include_crds: bool = False
) -> str:
    """`helm template` of the chart with `values`, as text."""
    return _template(json.dumps(values or {}, sort_keys=True), namespace, include_crds)


def render(
    values: Mapping[str, Any] | None = None, namespace: str = NAMESPACE, include_crds: bool = False
) -> list[Manifest]:
    """`helm template` of the chart with `values`, parsed: one dict per non-empty document."""
    docs = yaml.safe_load_all(render_text(values, namespace, include_crds))
    return [doc for doc in docs if doc is not None]


def render_error(values: Mapping[str, Any]) -> str:
    """The error helm prints when it refuses `values`; fails the test if helm renders them."""
    with tempfile.TemporaryDirectory(prefix="serinus-values-") as tmp:
        proc = run_helm(
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            "-f",
            _values_file(values, tmp),
            check=False,
        )
    assert proc.returncode != 0, f"helm accepted values it should refuse: {values}"
    return proc.stderr


def lint(values: Mapping[str, Any] | None = None, strict: bool = False) -> subprocess.CompletedProcess[str]:
    """`helm lint` of the chart with `values` (and `--strict` when asked)."""
    with tempfile.TemporaryDirectory(prefix="serinus-values-") as tmp:
        args = ["lint", str(CHART), "--namespace", NAMESPACE, "-f", _values_file(values or {}, tmp)]
        if strict:
            args.append("--strict")
        return run_helm(*args, check=False)


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    """The manifests of one kind."""
    return [m for m in manifests if m.get("kind") == kind]


def one(manifests: list[Manifest], kind: str) -> Manifest:
    """The only manifest of `kind`; fails if there is not exactly one."""
    found = of_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
    return found[0]


def controller_container(manifests: list[Manifest]) -> dict[str, Any]:
    """The controller container of the rendered Deployment."""
    containers = one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["controller"]
    container: dict[str, Any] = containers[0]
    return container
