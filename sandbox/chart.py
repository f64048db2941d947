"""The Helm chart's controller as a cluster runs it, for the sandbox on the real control plane.

On the real control plane the controller gets the chart's permissions and no more: the chart is
rendered with the real ``helm template``; its ServiceAccount, Roles, ClusterRoles and bindings are
applied; the rendered Deployment's container command line and environment are run as a local process
(only ``serinus`` resolved to this virtualenv's entry point, and ``env`` resolved as a kubelet would:
values, the downward-API fields, ``secretKeyRef``); and the process authenticates as that
ServiceAccount with a token from the TokenRequest API, so RBAC judges every request it makes.

    manifests = render({"watchNamespaces": ["shop"], ...}, namespace="serinus-system")
    apply_rbac(admin, manifests)
    kubeconfig = service_account_kubeconfig(admin, admin_kubeconfig, "serinus-system", account, path)
    argv, env = controller_command(manifests, admin, pod_name="serinus-0")
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client.exceptions import ApiException

from sandbox.cluster.rest import RawApi, collection_path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CHART = PROJECT_ROOT / "charts" / "serinus"
RELEASE = "serinus"
RBAC_KINDS = {
    "ServiceAccount": ("", "v1", "serviceaccounts"),
    "Role": ("rbac.authorization.k8s.io", "v1", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io", "v1", "rolebindings"),
    "ClusterRole": ("rbac.authorization.k8s.io", "v1", "clusterroles"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
}

Manifest = dict[str, Any]


class ChartError(RuntimeError):
    """helm is missing or refused the values; the message says which and how to install it."""


def helm_binary() -> Path:
    """``.tools/bin/helm`` (``./dev setup`` installs it), else helm on PATH."""
    local = PROJECT_ROOT / ".tools" / "bin" / "helm"
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which("helm")
    if found is None:
        raise ChartError(f"helm is not installed: expected {local} or helm on PATH; run ./dev setup")
    return Path(found)


def helm_env(home: str) -> dict[str, str]:
    """helm's environment with a private, empty home, so no user configuration or repository leaks in."""
    return {"PATH": os.environ.get("PATH", ""), "HOME": home, "HELM_CACHE_HOME": f"{home}/cache",
            "HELM_CONFIG_HOME": f"{home}/config", "HELM_DATA_HOME": f"{home}/data"}  # fmt: skip


def render(values: Mapping[str, Any], namespace: str) -> list[Manifest]:
    """``helm template`` of the chart with ``values`` (a private, empty helm home), parsed."""
    with tempfile.TemporaryDirectory(prefix="serinus-chart-") as home:
        values_file = Path(home) / "values.json"
        values_file.write_text(json.dumps(values))  # JSON is YAML: values reach helm exactly typed
        env = helm_env(home)
        done = subprocess.run(
            [str(helm_binary()), "template", RELEASE, str(CHART), "--namespace", namespace,
             "-f", str(values_file)],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise ChartError(f"helm template refused the values: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    """The manifests of one kind."""
    return [m for m in manifests if m.get("kind") == kind]


def _path(kind: str, namespace: str | None) -> str:
    group, version, plural = RBAC_KINDS[kind]
    namespaced = kind in ("ServiceAccount", "Role", "RoleBinding")
    return collection_path(group, version, plural, namespace if namespaced else None)


def apply_rbac(admin: RawApi, manifests: list[Manifest]) -> list[str]:
    """Create (or replace) every RBAC object and the ServiceAccount the chart renders; their names."""
    applied = []
    for doc in (m for m in manifests if m.get("kind") in RBAC_KINDS):
        meta = doc["metadata"]
        path = _path(doc["kind"], meta.get("namespace"))
        try:
            admin.create(path, doc)
        except ApiException as exc:
            if exc.status != 409:  # there already: replace it
                raise
            current = admin.request("GET", f"{path}/{meta['name']}")
            body = {**doc, "metadata": {**meta, "resourceVersion": current["metadata"]["resourceVersion"]}}
            admin.request("PUT", f"{path}/{meta['name']}", body)
        applied.append(f"{doc['kind']} {meta.get('namespace', '')}/{meta['name']}".replace(" /", " "))
    return applied


def controller_container(manifests: list[Manifest]) -> dict[str, Any]:
    """The rendered Deployment's one container."""
    [deployment] = of_kind(manifests, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def service_account_of(manifests: list[Manifest]) -> tuple[str, str]:
    """``(namespace, name)`` of the ServiceAccount the rendered Deployment runs as."""
    [deployment] = of_kind(manifests, "Deployment")
    return deployment["metadata"]["namespace"], deployment["spec"]["template"]["spec"]["serviceAccountName"]


def service_account_token(admin: RawApi, namespace: str, name: str, seconds: int = 3600) -> str:
    """A token for the ServiceAccount from the TokenRequest API (as the kubelet's projected volume gets)."""
    path = f"{collection_path('', 'v1', 'serviceaccounts', namespace)}/{name}/token"
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": seconds},
    }
    return str(admin.request("POST", path, body)["status"]["token"])


def service_account_kubeconfig(admin: RawApi, admin_kubeconfig: Path, namespace: str, name: str,
                               path: Path) -> Path:  # fmt: skip
    """A kubeconfig for the same server and CA as ``admin_kubeconfig``, authenticated as the account."""
    config = yaml.safe_load(Path(admin_kubeconfig).read_text())
    cluster = config["clusters"][0]["cluster"]
    user = f"system:serviceaccount:{namespace}:{name}"
    doc = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": service_account_token(admin, namespace, name)}}],
        "contexts": [{"name": "sandbox",
                      "context": {"cluster": "sandbox", "user": user, "namespace": namespace}}],
        "current-context": "sandbox",
    }  # fmt: skip
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path


def resolve_env(container: Mapping[str, Any], admin: RawApi, namespace: str, pod_name: str) -> dict[str, str]:
    """The container's ``env`` as the kubelet sets it: values, ``metadata.namespace``/``metadata.name``
    and ``secretKeyRef`` (read as admin, as the kubelet reads it for the Pod)."""
    fields = {"metadata.namespace": namespace, "metadata.name": pod_name}
    env: dict[str, str] = {}
    for var in container.get("env") or []:
        source = var.get("valueFrom") or {}
        if "value" in var:
            env[var["name"]] = str(var["value"])
        elif "fieldRef" in source and source["fieldRef"]["fieldPath"] in fields:
            env[var["name"]] = fields[source["fieldRef"]["fieldPath"]]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = admin.request("GET", f"{collection_path('', 'v1', 'secrets', namespace)}/{ref['name']}")
            env[var["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
        else:
            raise ChartError(f"env {var['name']}: cannot resolve {source}")
    return env


def controller_command(manifests: list[Manifest]) -> list[str]:
    """The container's command line with ``serinus`` resolved to this virtualenv's entry point."""
    container = controller_container(manifests)
    command = [*container["command"], *container["args"]]
    beside = Path(sys.executable).parent / command[0]
    if not beside.is_file():
        raise ChartError(f"{beside} is missing: the serinus entry point is installed by ./dev setup")
    return [str(beside), *command[1:]]
