"""The rendered chart applies with the real kubectl to both API servers: the emulator (a fresh one per
test) and the real kube-apiserver v1.37.2 (the session's control plane, where RBAC is the real
authorizer's: Roles, ClusterRoles and their bindings are validated as on a cluster); helm itself
renders the install (NOTES included) against both, and installs and uninstalls it on the real one.

The CRDs come first from the chart's crds/ and must become Established; a stand-in CRD for
ServiceMonitor stands for the Prometheus Operator. Every rendered object of a kind the server serves
(RBAC, PodDisruptionBudget and ServiceMonitor included) must be served, is created, is read back
holding what the chart set, and a second apply changes nothing.

The real server is shared by the session, so there the chart is rendered with namespaces and a
fullnameOverride of the test's own (the ClusterRole and ClusterRoleBinding are cluster-scoped), which
are deleted after the test. Serinus' CRDs are created only when absent and never deleted (other tests
use them); the ones served must then be the chart's.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.apiserver.testing import RunningApiServer
from sandbox.kubernetes.controlplane import ControlPlane
from sandbox.kubernetes.testing import SERVERS
from tests.integration.apiserver.clients import Kubectl
from tests.integration.chart.kinds import CLUSTER_SCOPED
from tests.unit.chart.helm import CHART, COMBINATIONS, NAMESPACE, RELEASE, Manifest, render, run_helm

pytestmark = pytest.mark.integration

# PodDisruptionBudget.spec.selector has patchStrategy "replace": kubectl's strategic-merge diff of it
# is never empty, so a re-apply reports "configured" for an unchanged PDB (as on a real cluster).
ALWAYS_PATCHED = {"PodDisruptionBudget"}
SERINUS_CRDS = ("canaries.serinus.dev", "metrictemplates.serinus.dev")

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


@dataclass
class Target:
    """One API server the chart goes to, and how the chart is named there."""

    kind: str  # "emulator" or "kubernetes"
    kubectl: Kubectl
    suffix: str = ""  # appended to every namespace and to the fullname on the shared real server
    namespaces: set[str] = field(default_factory=set)
    cluster_objects: list[str] = field(default_factory=list)

    @property
    def real(self) -> bool:
        return self.kind == "kubernetes"

    def ns(self, name: str) -> str:
        return f"{name}{self.suffix}"

    def values(self, values: dict[str, Any]) -> dict[str, Any]:
        """`values` with this server's namespace and fullname (unchanged on the emulator)."""
        if not self.real:
            return values
        local: dict[str, Any] = json.loads(json.dumps(values))
        local["fullnameOverride"] = f"{values.get('fullnameOverride') or RELEASE}{self.suffix}"
        if local.get("watchNamespaces"):
            local["watchNamespaces"] = [self.ns(n) for n in local["watchNamespaces"]]
        election = local.get("leaderElection") or {}
        if election.get("leaseNamespace"):
            election["leaseNamespace"] = self.ns(election["leaseNamespace"])
        return local

    def create_namespaces(self, names: set[str]) -> None:
        for name in sorted(names - self.namespaces):
            self.kubectl.run("create", "namespace", name)
            self.namespaces.add(name)

    def cleanup(self) -> None:
        """On the real server: the test's namespaces and cluster-scoped objects (never the CRDs)."""
        if not self.real:
            return
        if self.cluster_objects:
            self.kubectl.run("delete", "--ignore-not-found", "--wait=false", *self.cluster_objects)
        if self.namespaces:
            self.kubectl.run(
                "delete", "namespace", "--ignore-not-found", "--wait=false", *sorted(self.namespaces)
            )


@pytest.fixture(params=SERVERS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """The real kubectl (.venv/bin/kubectl) pointed at a fresh emulator or at the real control plane."""
    if request.param == "emulator":
        emulator: RunningApiServer = request.getfixturevalue("apiserver")
        yield Target("emulator", Kubectl(emulator.kubeconfig, tmp_path / "kube-cache"))
        return
    plane: ControlPlane = request.getfixturevalue("kube_control_plane")
    real = Target(
        "kubernetes", Kubectl(plane.kubeconfig, tmp_path / "kube-cache"), f"-{secrets.token_hex(3)}"
    )
    try:
        yield real
    finally:
        real.cleanup()


def served_kinds(kubectl: Kubectl) -> set[tuple[str, str]]:
    """(apiVersion, kind) of every resource the server's discovery lists."""
    lines = kubectl.run("api-resources", "--no-headers").stdout.splitlines()
    # Columns: NAME [SHORTNAMES] APIVERSION NAMESPACED KIND (SHORTNAMES may be empty).
    return {(line.split()[-3], line.split()[-1]) for line in lines if line.strip()}


def namespaces_of(values: dict[str, Any], release_namespace: str) -> set[str]:
    election = values.get("leaderElection", {})
    return {
        release_namespace,
        *values.get("watchNamespaces", []),
        election.get("leaseNamespace") or release_namespace,
    }


def install_crds(target: Target, service_monitor: bool) -> None:
    """The chart's CRDs: applied on the emulator; created unless present on the shared real server
    (as helm does with crds/), where the served ones must then be the chart's."""
    kubectl = target.kubectl
    names = [f"crd/{name}" for name in SERINUS_CRDS]
    if not target.real:
        out = kubectl.run("apply", "-f", str(CHART / "crds")).stdout
        for name in SERINUS_CRDS:
            assert f"customresourcedefinition.apiextensions.k8s.io/{name} created" in out
    else:
        present = set(kubectl.run("get", "crd", "-o", "name").stdout.split())
        for path in sorted((CHART / "crds").glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            if f"customresourcedefinition.apiextensions.k8s.io/{crd['metadata']['name']}" not in present:
                done = kubectl.run("create", "-f", str(path), check=False)
                assert done.returncode == 0 or "AlreadyExists" in done.stderr, done.stderr
            stored = kubectl.json("get", "crd", crd["metadata"]["name"])
            assert stored["spec"]["versions"] == crd["spec"]["versions"], (
                f"{path.name}: another CRD is served"
            )
    if service_monitor:
        done = kubectl.run("create", "-f", "-", stdin=json.dumps(SERVICE_MONITOR_CRD), check=False)
        assert done.returncode == 0 or "AlreadyExists" in done.stderr, done.stderr
        names.append("crd/servicemonitors.monitoring.coreos.com")
    kubectl.run("wait", "--for=condition=Established", *names, "--timeout=30s")


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


@pytest.mark.parametrize("name", ["defaults", "namespaced-3", "cluster-wide", "everything"])
def test_the_rendered_chart_applies(target: Target, name: str) -> None:
    values = target.values(COMBINATIONS[name])
    release_namespace = target.ns(NAMESPACE)
    manifests = render(values, namespace=release_namespace)
    target.create_namespaces(namespaces_of(values, release_namespace))
    target.cluster_objects += ["/".join(plural_ref(m)) for m in manifests if m["kind"] in CLUSTER_SCOPED]
    has_monitor = any(m["kind"] == "ServiceMonitor" for m in manifests)
    install_crds(target, service_monitor=has_monitor)

    rendered = {(m["apiVersion"], m["kind"]) for m in manifests}
    unserved = rendered - served_kinds(target.kubectl)
    assert not unserved, f"rendered kinds the {target.kind} server does not serve: {unserved}"

    applied = target.kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump_all(manifests))
    assert applied.stderr == ""  # no warning (deprecated API, unknown field) from either server
    for manifest in manifests:
        ref = plural_ref(manifest)
        assert f"/{manifest['metadata']['name']} created" in applied.stdout, (
            f"{ref} not created:\n{applied.stdout}"
        )
        stored = target.kubectl.json("get", *ref)
        differences = list(contains(stored, {k: v for k, v in manifest.items() if k != "status"}))
        assert differences == [], f"{ref} stored differently: {differences}"

    again = target.kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump_all(manifests)).stdout
    steady = [m for m in manifests if m["kind"] not in ALWAYS_PATCHED]
    assert again.count(" unchanged") == len(steady), again


def test_helm_renders_the_install_and_its_notes(target: Target) -> None:
    """helm install --dry-run=client talks to the server for its version and discovery (every kind
    must map). On the real server helm also validates every manifest against the server's OpenAPI
    document; the emulator has none (the kinds are validated against the Kubernetes types in
    test_template)."""
    release_namespace = target.ns(NAMESPACE)
    teams = [target.ns("team-a"), target.ns("team-b")]
    openapi = [] if target.real else ["--disable-openapi-validation"]
    proc = run_helm(
        "install", RELEASE, str(CHART), "--dry-run=client", *openapi,
        "--kubeconfig", str(target.kubectl.kubeconfig), "--namespace", release_namespace,
        "--set", f"watchNamespaces={{{','.join(teams)}}}",
        "--set", "podDisruptionBudget.enabled=true", "--set", "git.webhook.secretName=git-hook",
    )  # fmt: skip
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert f"Serinus 0.1.0 is installed as serinus in namespace {release_namespace}." in notes
    assert f"It watches Canaries in: {', '.join(teams)}." in notes
    assert f"2 pod(s); the holder of Lease {release_namespace}/serinus-leader acts" in notes
    assert f"http://serinus.{release_namespace}.svc:80/hooks/git" in notes
    assert "refuses every push" not in notes
    assert "kubectl wait --for=condition=Promoted" in notes


@pytest.mark.real_control_plane
def test_helm_installs_and_uninstalls_the_chart_on_the_real_control_plane(
    kube_control_plane: ControlPlane, tmp_path: Path
) -> None:
    """A real ``helm install`` (CRDs from crds/ when absent, then every object, validated against the
    server's OpenAPI) and ``helm uninstall``; in between the real RBAC authorizer grants the
    ServiceAccount exactly what the Roles say: Canaries in the watched namespaces only, Secrets only
    by the names the values list, and never listed."""
    real = Target("kubernetes", Kubectl(kube_control_plane.kubeconfig, tmp_path / "kube-cache"),
                  f"-{secrets.token_hex(3)}")  # fmt: skip
    release_namespace, team, other = real.ns(NAMESPACE), real.ns("team-a"), real.ns("elsewhere")
    values = real.values({"watchNamespaces": ["team-a"], "git": {"secretNames": ["fleet-git"]}})
    real.create_namespaces({release_namespace, team, other})
    kubeconfig = ["--kubeconfig", str(kube_control_plane.kubeconfig), "--namespace", release_namespace]
    values_file = tmp_path / "values.json"
    values_file.write_text(json.dumps(values))
    try:
        installed = run_helm("install", RELEASE, str(CHART), *kubeconfig, "-f", str(values_file))
        assert "STATUS: deployed" in installed.stdout, installed.stdout
        account = f"system:serviceaccount:{release_namespace}:{values['fullnameOverride']}"

        def can(verb: str, resource: str, namespace: str) -> bool:
            done = real.kubectl.run(
                "auth", "can-i", verb, resource, "-n", namespace, "--as", account, check=False
            )
            return done.stdout.strip() == "yes"

        assert can("watch", "canaries.serinus.dev", team)
        assert can("update", "canaries.serinus.dev/status", team)
        assert can("update", "deployments.apps/scale", team)
        assert can("create", "services", team)
        assert not can("create", "pods", team)
        assert not can("list", "canaries.serinus.dev", other)  # namespaced install: not elsewhere
        assert can("get", "secrets/fleet-git", team)
        assert not can("get", "secrets/other", team)
        assert not can("list", "secrets", team)
        assert can("update", "leases.coordination.k8s.io/serinus-leader", release_namespace)
        assert not can("delete", "leases.coordination.k8s.io/serinus-leader", release_namespace)
    finally:
        uninstalled = run_helm("uninstall", RELEASE, *kubeconfig, check=False)
        real.cleanup()
    assert uninstalled.returncode == 0, uninstalled.stderr
    assert real.kubectl.run("get", "crd", *SERINUS_CRDS, "-o", "name").stdout.split() == [
        f"customresourcedefinition.apiextensions.k8s.io/{name}" for name in SERINUS_CRDS
    ]  # helm keeps the CRDs of crds/ on uninstall
