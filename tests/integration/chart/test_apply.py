"""The rendered chart applies with the real kubectl to the API emulator, and helm itself can render
the install (NOTES included) against it.

The CRDs are applied first from the chart's crds/ and must become Established; a stand-in CRD for
ServiceMonitor stands for the Prometheus Operator. Every rendered object of a kind the emulator serves
(RBAC, PodDisruptionBudget and ServiceMonitor included) must be served, is created, is read back
holding what the chart set, and a second apply changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.apiserver.testing import RunningApiServer
from tests.integration.apiserver.clients import Kubectl
from tests.unit.chart.helm import CHART, COMBINATIONS, NAMESPACE, RELEASE, Manifest, render, run_helm

# PodDisruptionBudget.spec.selector has patchStrategy "replace": kubectl's strategic-merge diff of it
# is never empty, so a re-apply reports "configured" for an unchanged PDB (as on a real cluster).
ALWAYS_PATCHED = {"PodDisruptionBudget"}

# The Prometheus Operator's CRD reduced to what the apply needs (the real one is installed with it).
SERVICE_MONITOR_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {
            "kind": "ServiceMonitor",
            "listKind": "ServiceMonitorList",
            "plural": "servicemonitors",
            "singular": "servicemonitor",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture
def kubectl(apiserver: RunningApiServer, tmp_path: Path) -> Kubectl:
    """The real kubectl (.venv/bin/kubectl) pointed at a fresh emulator."""
    return Kubectl(apiserver.kubeconfig, tmp_path / "kube-cache")


def served_kinds(kubectl: Kubectl) -> set[tuple[str, str]]:
    """(apiVersion, kind) of every resource the server's discovery lists."""
    lines = kubectl.run("api-resources", "--no-headers").stdout.splitlines()
    # Columns: NAME [SHORTNAMES] APIVERSION NAMESPACED KIND (SHORTNAMES may be empty).
    return {(line.split()[-3], line.split()[-1]) for line in lines if line.strip()}


def namespaces_of(values: dict[str, Any]) -> set[str]:
    election = values.get("leaderElection", {})
    return {NAMESPACE, *values.get("watchNamespaces", []), election.get("leaseNamespace") or NAMESPACE}


def install_crds(kubectl: Kubectl, service_monitor: bool) -> None:
    out = kubectl.run("apply", "-f", str(CHART / "crds")).stdout
    assert "customresourcedefinition.apiextensions.k8s.io/canaries.serinus.dev created" in out
    assert "customresourcedefinition.apiextensions.k8s.io/metrictemplates.serinus.dev created" in out
    names = ["crd/canaries.serinus.dev", "crd/metrictemplates.serinus.dev"]
    if service_monitor:
        kubectl.apply(SERVICE_MONITOR_CRD)
        names.append("crd/servicemonitors.monitoring.coreos.com")
    kubectl.run("wait", "--for=condition=Established", *names, "--timeout=20s")


def plural_ref(manifest: Manifest) -> list[str]:
    """kubectl arguments naming one object: TYPE/NAME [-n NS]."""
    group = manifest["apiVersion"].rpartition("/")[0]
    kind = manifest["kind"].lower() + (f".{group}" if group else "")
    ref = [f"{kind}/{manifest['metadata']['name']}"]
    if manifest["metadata"].get("namespace"):
        ref += ["-n", manifest["metadata"]["namespace"]]
    return ref


def contains(stored: Any, wanted: Any, path: str = "") -> Iterator[str]:
    """Differences where `stored` lacks or changes what `wanted` sets (the server may add defaults)."""
    if isinstance(wanted, dict):
        if not isinstance(stored, dict):
            yield f"{path}: expected an object, stored {stored!r}"
            return
        for key, value in wanted.items():
            yield from contains(stored.get(key), value, f"{path}.{key}")
    elif isinstance(wanted, list):
        if not isinstance(stored, list) or len(stored) != len(wanted):
            yield f"{path}: expected {wanted!r}, stored {stored!r}"
            return
        for i, (got, want) in enumerate(zip(stored, wanted, strict=True)):
            yield from contains(got, want, f"{path}[{i}]")
    elif stored != wanted:
        yield f"{path}: expected {wanted!r}, stored {stored!r}"


@pytest.mark.integration
@pytest.mark.parametrize("name", ["defaults", "namespaced-3", "cluster-wide", "everything"])
def test_the_rendered_chart_applies_to_the_api_emulator(kubectl: Kubectl, name: str) -> None:
    values = COMBINATIONS[name]
    manifests = render(values)
    for namespace in sorted(namespaces_of(values)):
        kubectl.run("create", "namespace", namespace)
    has_monitor = any(m["kind"] == "ServiceMonitor" for m in manifests)
    install_crds(kubectl, service_monitor=has_monitor)

    rendered = {(m["apiVersion"], m["kind"]) for m in manifests}
    unserved = rendered - served_kinds(kubectl)
    assert not unserved, f"rendered kinds the emulator does not serve: {unserved}"

    out = kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump_all(manifests)).stdout
    for manifest in manifests:
        ref = plural_ref(manifest)
        assert f"/{manifest['metadata']['name']} created" in out, f"{ref} not created:\n{out}"
        stored = kubectl.json("get", *ref)
        differences = list(contains(stored, {k: v for k, v in manifest.items() if k != "status"}))
        assert differences == [], f"{ref} stored differently: {differences}"

    again = kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump_all(manifests)).stdout
    steady = [m for m in manifests if m["kind"] not in ALWAYS_PATCHED]
    assert again.count(" unchanged") == len(steady), again


@pytest.mark.integration
def test_helm_renders_the_install_and_its_notes_against_the_emulator(apiserver: RunningApiServer) -> None:
    """helm install --dry-run=client talks to the server for its version and discovery (every kind
    must map). OpenAPI validation is off: the emulator has no /openapi/v2 (the kinds are validated
    against the Kubernetes types in test_template)."""
    proc = run_helm(
        "install",
        RELEASE,
        str(CHART),
        "--dry-run=client",
        "--disable-openapi-validation",
        "--kubeconfig",
        str(apiserver.kubeconfig),
        "--namespace",
        NAMESPACE,
        "--set",
        "watchNamespaces={team-a,team-b}",
        "--set",
        "podDisruptionBudget.enabled=true",
        "--set",
        "git.webhook.secretName=git-hook",
    )
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert f"Serinus 0.1.0 is installed as serinus in namespace {NAMESPACE}." in notes
    assert "It watches Canaries in: team-a, team-b." in notes
    assert "2 pod(s); the holder of Lease serinus-system/serinus-leader acts" in notes
    assert f"http://serinus.{NAMESPACE}.svc:80/hooks/git" in notes
    assert "refuses every push" not in notes
    assert "kubectl wait --for=condition=Promoted" in notes
