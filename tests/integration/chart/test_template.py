"""`helm template` of charts/serinus with the real helm across value combinations, and the rendered
manifests checked as Kubernetes would see them.

Pinned for every combination: each manifest is a valid object of its Kubernetes type (unknown fields,
wrong types and missing required fields fail); RBAC never allows list/watch of Secrets, never uses
wildcards, is namespaced unless clusterWide is asked, and grants the controller every resource its
code touches (and a provider's resources only when that provider is enabled); the pod is hardened;
probes, Service, ServiceMonitor and selectors point at the pod's port and labels. Bad values are
refused by values.schema.json or the templates with a message naming the value.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import pytest

from controller.kube import objects as kube_objects
from controller.kube.objects import Resource
from controller.routers import gatewayapi, istio, smi
from tests.integration.chart.kinds import CLUSTER_SCOPED, Request, allows, type_errors
from tests.unit.chart.helm import (
    COMBINATIONS,
    NAMESPACE,
    Manifest,
    controller_container,
    of_kind,
    one,
    render,
    render_error,
)

RBAC_KINDS = {"Role", "ClusterRole"}
ALL_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


def combo(name: str) -> tuple[dict[str, Any], list[Manifest]]:
    values = COMBINATIONS[name]
    return values, render(values)


def watched(values: Mapping[str, Any]) -> list[str]:
    """The namespaces the values ask Serinus to watch (empty for cluster-wide)."""
    if values.get("clusterWide"):
        return []
    return list(values.get("watchNamespaces") or [NAMESPACE])


def service_account(manifests: list[Manifest]) -> tuple[str, str]:
    """(namespace, name) of the ServiceAccount the Deployment runs as."""
    deployment = one(manifests, "Deployment")
    return deployment["metadata"]["namespace"], deployment["spec"]["template"]["spec"]["serviceAccountName"]


def rules_in(manifests: list[Manifest], namespace: str | None) -> list[dict[str, Any]]:
    """Every rule granted to the controller's ServiceAccount in `namespace` (None: cluster scope),
    resolving bindings to roles the way the RBAC authorizer does."""
    subject = {
        "kind": "ServiceAccount",
        "namespace": service_account(manifests)[0],
        "name": service_account(manifests)[1],
    }
    roles = {
        (m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"]): m
        for m in manifests
        if m["kind"] in RBAC_KINDS
    }
    rules: list[dict[str, Any]] = []
    for binding in manifests:
        if binding["kind"] == "ClusterRoleBinding":
            in_scope = True
        elif binding["kind"] == "RoleBinding":
            in_scope = binding["metadata"]["namespace"] == namespace
        else:
            continue
        if not in_scope or subject not in binding["subjects"]:
            continue
        ref = binding["roleRef"]
        role_ns = None if ref["kind"] == "ClusterRole" else binding["metadata"]["namespace"]
        role = roles.get((ref["kind"], role_ns, ref["name"]))
        assert role is not None, f"{binding['kind']} {binding['metadata']['name']} binds a missing {ref}"
        rules += role["rules"]
    return rules


def can(
    manifests: list[Manifest],
    namespace: str,
    group: str,
    resource: str,
    verb: str,
    *,
    name: str | None = None,
) -> bool:
    return allows(rules_in(manifests, namespace), Request(group, resource, verb, name))


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_every_manifest_is_a_valid_object_of_its_kind(name: str) -> None:
    _, manifests = combo(name)
    assert manifests
    seen = set()
    for manifest in manifests:
        meta = manifest.get("metadata") or {}
        where = f"{manifest.get('kind')} {meta.get('name')}"
        assert manifest.get("apiVersion") and manifest.get("kind") and meta.get("name"), where
        assert type_errors(manifest) == [], where
        if manifest["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in meta, where
        else:
            # Explicit, so `kubectl apply -n other` cannot put half the release elsewhere.
            assert meta.get("namespace"), f"{where}: namespaced object without metadata.namespace"
        assert meta["labels"]["app.kubernetes.io/part-of"] == "serinus", where
        key = (manifest["kind"], meta.get("namespace"), meta["name"])
        assert key not in seen, f"rendered twice: {key}"
        seen.add(key)


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_rbac_never_lets_the_controller_list_or_watch_secrets_and_uses_no_wildcards(name: str) -> None:
    values, manifests = combo(name)
    for role in (m for m in manifests if m["kind"] in RBAC_KINDS):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(field, []), f"{role['metadata']['name']}: wildcard {field}"
            if "secrets" in rule["resources"]:
                assert rule["verbs"] == ["get"], f"Secrets allow more than get: {rule}"
    scopes = watched(values) or ["any-namespace"]
    for namespace in scopes:
        for verb in ("list", "watch", "create", "update", "patch", "delete", "deletecollection"):
            assert not can(manifests, namespace, "", "secrets", verb), f"secrets {verb} in {namespace}"
    named = sorted(
        set(values.get("git", {}).get("secretNames", []))
        | set(values.get("metrics", {}).get("secretNames", []))
    )
    for namespace in scopes:
        if named:
            for secret in named:
                assert can(manifests, namespace, "", "secrets", "get", name=secret)
            assert not can(manifests, namespace, "", "secrets", "get", name="some-other-secret")
        else:
            assert can(manifests, namespace, "", "secrets", "get", name="any-secret")


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_rbac_is_namespaced_unless_cluster_wide_is_asked(name: str) -> None:
    values, manifests = combo(name)
    cluster_kinds = {m["kind"] for m in manifests if m["kind"] in {"ClusterRole", "ClusterRoleBinding"}}
    namespaces = watched(values)
    if values.get("clusterWide"):
        assert cluster_kinds == {"ClusterRole", "ClusterRoleBinding"}
        assert can(manifests, "anywhere", "serinus.dev", "canaries", "watch")
        return
    assert cluster_kinds == set()
    assert not can(manifests, "not-watched", "serinus.dev", "canaries", "list")
    assert not can(manifests, "not-watched", "apps", "deployments", "get")
    watch_roles = [
        m for m in of_kind(manifests, "Role") if not m["metadata"]["name"].endswith("-leader-election")
    ]
    assert sorted(r["metadata"]["namespace"] for r in watch_roles) == sorted(namespaces)
    for namespace in namespaces:
        assert can(manifests, namespace, "serinus.dev", "canaries", "watch")


def resources_used_by_the_controller() -> dict[str, list[Resource]]:
    """Resource constants the controller's code declares, by the provider that needs them ('' = all)."""

    def declared(module: types.ModuleType) -> list[Resource]:
        return [v for v in vars(module).values() if isinstance(v, Resource)]

    core = [r for r in declared(kube_objects) if r.plural not in {"ingresses", "leases"}]
    return {
        "": core,
        "gatewayapi": declared(gatewayapi),
        "istio": declared(istio),
        "smi": declared(smi),
        "nginx": [kube_objects.INGRESS],
    }


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_rbac_grants_what_the_controller_code_uses_and_provider_rules_only_when_enabled(name: str) -> None:
    values, manifests = combo(name)
    providers = {
        "gatewayapi": True,
        "istio": False,
        "smi": False,
        "nginx": False,
        **values.get("providers", {}),
    }
    namespace = (watched(values) or ["any-namespace"])[0]
    used = resources_used_by_the_controller()
    assert len(used[""]) >= 4 and all(used.values()), used
    for provider, resources in used.items():
        enabled = provider == "" or providers[provider]
        for res in resources:
            for verb in ("get", "create", "update", "patch"):
                # Canaries come from Git: the controller reads and patches them, never creates them.
                expected = enabled and not (res.plural == "canaries" and verb == "create")
                assert can(manifests, namespace, res.group, res.plural, verb) is expected, (
                    f"{verb} {res.plural}.{res.group} with providers {providers}"
                )
    # What kopf and the run need beyond single-object calls.
    for verb in ("list", "watch", "patch"):
        assert can(manifests, namespace, "serinus.dev", "canaries", verb)
        assert can(manifests, namespace, "serinus.dev", "metrictemplates", verb) or verb == "patch"
    assert can(manifests, namespace, "serinus.dev", "canaries/status", "patch")
    assert can(manifests, namespace, "apps", "deployments/scale", "update")
    assert can(manifests, namespace, "events.k8s.io", "events", "create")
    assert not can(manifests, namespace, "", "pods", "get")


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_the_lease_is_granted_by_name_in_the_lease_namespace_only(name: str) -> None:
    values, manifests = combo(name)
    election = {
        "enabled": True,
        "leaseName": "serinus-leader",
        "leaseNamespace": "",
        **values.get("leaderElection", {}),
    }
    lease_ns = election["leaseNamespace"] or NAMESPACE
    lease = election["leaseName"]
    if not election["enabled"]:
        assert not any(m["metadata"]["name"].endswith("-leader-election") for m in manifests)
        return
    for verb in ("get", "update", "patch"):
        assert can(manifests, lease_ns, "coordination.k8s.io", "leases", verb, name=lease)
        assert not can(manifests, lease_ns, "coordination.k8s.io", "leases", verb, name="someone-elses-lease")
    assert can(manifests, lease_ns, "coordination.k8s.io", "leases", "create")
    assert not can(manifests, lease_ns, "coordination.k8s.io", "leases", "list")
    assert not can(manifests, "not-the-lease-namespace", "coordination.k8s.io", "leases", "get", name=lease)


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_the_pod_is_hardened(name: str) -> None:
    values, manifests = combo(name)
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] > 0 and security["runAsGroup"] > 0
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(flag)
    for container in pod["containers"] + pod.get("initContainers", []):
        ctx = container["securityContext"]
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx.get("privileged", False) is False
        assert ctx["capabilities"] == {"drop": ["ALL"]}
        assert ctx.get("runAsNonRoot", True) is True and ctx.get("runAsUser", 1) > 0
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    # With a read-only root, every mount is a writable emptyDir (no hostPath, no shared storage).
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert all(set(v) == {"name", "emptyDir"} for v in volumes.values()), volumes
    assert {"/tmp", values.get("git", {}).get("cacheDir", "/var/cache/serinus/git")} == {
        m["mountPath"] for m in controller_container(manifests)["volumeMounts"]
    }


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_probes_service_and_monitor_reach_the_controller(name: str) -> None:
    values, manifests = combo(name)
    deployment = one(manifests, "Deployment")
    container = controller_container(manifests)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    service = one(manifests, "Service")
    assert service["spec"]["selector"] == selector
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert set(ports) == {"http-metrics", "http-webhook"}
    assert all(p["targetPort"] == "http" for p in ports.values())
    monitors = of_kind(manifests, "ServiceMonitor")
    assert len(monitors) == int(values.get("serviceMonitor", {}).get("enabled", False))
    for monitor in monitors:
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http-metrics"]
        assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
        assert monitor["metadata"]["labels"].items() >= values["serviceMonitor"].get("labels", {}).items()
    budgets = of_kind(manifests, "PodDisruptionBudget")
    assert len(budgets) == int(values.get("podDisruptionBudget", {}).get("enabled", False))
    for budget in budgets:
        assert budget["spec"]["selector"]["matchLabels"] == selector
        assert budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_replicas_and_rollout_strategy_follow_leader_election(name: str) -> None:
    values, manifests = combo(name)
    spec = one(manifests, "Deployment")["spec"]
    assert spec["replicas"] == values.get("replicaCount", 2)
    if values.get("leaderElection", {}).get("enabled", True):
        assert spec["strategy"]["type"] == "RollingUpdate"
    else:
        # Without a Lease two pods must never overlap, not even during a rollout.
        assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}


# (values, the text helm's error must contain): each names the offending value.
BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"replicaCount": 0}, "replicaCount: Must be greater than or equal to 1"),
    (
        {"replicaCount": 2, "leaderElection": {"enabled": False}},
        "replicaCount: Must be less than or equal to 1",
    ),
    ({"replicacount": 2}, "Additional property replicacount is not allowed"),
    ({"leaderElection": {"enable": False}}, "leaderElection: Additional property enable is not allowed"),
    (
        {"clusterWide": True, "watchNamespaces": ["team-a"]},
        "watchNamespaces: Array must have at most 0 items",
    ),
    ({"clusterWide": "yes"}, "clusterWide: Invalid type. Expected: boolean, given: string"),
    ({"watchNamespaces": ["Team_A"]}, "watchNamespaces.0: Does not match pattern"),
    ({"watchNamespaces": ["team-a", "team-a"]}, "watchNamespaces: array items[0,1] must be unique"),
    (
        {"securityContext": {"runAsUser": 0, "runAsGroup": 10001}},
        "securityContext.runAsUser: Must be greater than or equal to 1",
    ),
    (
        {"securityContext": {"runAsNonRoot": False, "runAsUser": 1, "runAsGroup": 1}},
        "securityContext: Additional property runAsNonRoot is not allowed",
    ),
    ({"tick": "2"}, "tick: Does not match pattern"),
    ({"resync": "30"}, "resync: Does not match pattern"),
    ({"logFormat": "xml"}, "logFormat: logFormat must be one of the following"),
    (
        {"metrics": {"port": 70000, "server": "http://p:9090"}},
        "metrics.port: Must be less than or equal to 65535",
    ),
    ({"metrics": {"port": 8080, "server": "prometheus:9090"}}, "metrics.server: Does not match pattern"),
    (
        {"metrics": {"port": 8080, "server": "http://p:9090", "allowlist": ["ftp://x"]}},
        "metrics.allowlist.0: Does not match pattern",
    ),
    (
        {"git": {"author": "nobody", "cacheDir": "/c", "webhook": {"envName": "X"}}},
        "git.author: Does not match pattern",
    ),
    (
        {"git": {"author": "A <a@b.c>", "cacheDir": "relative", "webhook": {"envName": "X"}}},
        "git.cacheDir: Does not match pattern",
    ),
    (
        {"git": {"author": "A <a@b.c>", "cacheDir": "/c", "webhook": {"envName": "BAD-NAME"}}},
        "git.webhook.envName: Does not match pattern",
    ),
    (
        {
            "git": {
                "author": "A <a@b.c>",
                "cacheDir": "/c",
                "secretNames": ["Bad Name"],
                "webhook": {"envName": "X"},
            }
        },
        "git.secretNames.0: Does not match pattern",
    ),
    (
        {"image": {"repository": "", "pullPolicy": "Always"}},
        "image.repository: String length must be greater",
    ),
    (
        {"image": {"repository": "r", "pullPolicy": "Sometimes"}},
        "image.pullPolicy: image.pullPolicy must be one of",
    ),
    (
        {"providers": {"gatewayapi": True, "istio": False, "smi": False, "nginx": False, "traefik": True}},
        "providers: Additional property traefik is not allowed",
    ),
    (
        {"service": {"type": "ExternalName", "metricsPort": 8080, "webhookPort": 80}},
        "service.type: service.type must be one of",
    ),
    (
        {"serviceMonitor": {"enabled": True, "interval": "often"}},
        "serviceMonitor.interval: Does not match pattern",
    ),
    ({"podDisruptionBudget": {"enabled": True, "minAvailable": "half"}}, "podDisruptionBudget.minAvailable"),
    (
        {"podDisruptionBudget": {"enabled": True, "minAvailable": 2}},
        "podDisruptionBudget.minAvailable (2) must be below replicaCount (2)",
    ),
    (
        {"serviceAccount": {"create": False}},
        "serviceAccount.name: name the existing ServiceAccount when serviceAccount.create is false",
    ),
]


@pytest.mark.parametrize(("values", "message"), BAD_VALUES, ids=[m.split(":")[0] for _, m in BAD_VALUES])
def test_bad_values_are_refused_with_the_path_of_the_value(values: dict[str, Any], message: str) -> None:
    error = render_error(values)
    assert message in error, error
