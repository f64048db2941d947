"""Checks of rendered manifests against the Kubernetes API types, and RBAC rule evaluation.

The `kubernetes` client's models are generated from the Kubernetes OpenAPI document and forbid
unknown fields and wrong types, so validating a manifest with them is a schema check of the real API
(the API emulator stores built-in kinds without checking their fields). ServiceMonitor is not
a Kubernetes type: its fields are checked against the Prometheus Operator's v1 names used here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes.client as k8s
from pydantic import BaseModel, ValidationError

MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("v1", "ServiceAccount"): k8s.V1ServiceAccount,
    ("v1", "Service"): k8s.V1Service,
    ("apps/v1", "Deployment"): k8s.V1Deployment,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.V1Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.V1RoleBinding,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.V1ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): k8s.V1ClusterRoleBinding,
    ("policy/v1", "PodDisruptionBudget"): k8s.V1PodDisruptionBudget,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): k8s.V1CustomResourceDefinition,
}
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Namespace"}
# ServiceMonitor fields (monitoring.coreos.com/v1) the chart may use.
SERVICE_MONITOR_SPEC = {"selector", "namespaceSelector", "endpoints", "jobLabel"}
SERVICE_MONITOR_ENDPOINT = {"port", "path", "interval", "scrapeTimeout", "scheme"}


def type_errors(manifest: Mapping[str, Any]) -> list[str]:
    """What is wrong with `manifest` as an object of its kind: unknown fields, wrong types, missing
    required fields, each with its path; empty when it is valid."""
    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    if key == ("monitoring.coreos.com/v1", "ServiceMonitor"):
        return _service_monitor_errors(manifest)
    model = MODELS.get(key)
    if model is None:
        return [f"{key[0]} {key[1]}: not a kind this chart is expected to render"]
    try:
        model.model_validate(manifest)
    except ValidationError as err:
        return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
    return []


def _service_monitor_errors(manifest: Mapping[str, Any]) -> list[str]:
    errors = [f"{k}: unknown field" for k in manifest if k not in {"apiVersion", "kind", "metadata", "spec"}]
    spec = manifest.get("spec", {})
    errors += [f"spec.{k}: unknown field" for k in spec if k not in SERVICE_MONITOR_SPEC]
    if not spec.get("selector", {}).get("matchLabels"):
        errors.append("spec.selector.matchLabels: required")
    endpoints = spec.get("endpoints") or []
    if not endpoints:
        errors.append("spec.endpoints: at least one endpoint")
    for i, endpoint in enumerate(endpoints):
        errors += [
            f"spec.endpoints.{i}.{k}: unknown field" for k in endpoint if k not in SERVICE_MONITOR_ENDPOINT
        ]
    return errors


@dataclass(frozen=True)
class Request:
    """One API request, as RBAC authorizes it."""

    group: str
    resource: str  # "deployments" or "deployments/scale"
    verb: str
    name: str | None = None


def rule_allows(rule: Mapping[str, Any], request: Request) -> bool:
    """Whether one PolicyRule allows `request`, with Kubernetes' wildcard and resourceNames semantics."""
    groups = rule.get("apiGroups") or []
    resources = rule.get("resources") or []
    verbs = rule.get("verbs") or []
    names = rule.get("resourceNames") or []
    base = request.resource.split("/", 1)[0]
    resource_ok = (
        "*" in resources
        or request.resource in resources
        or ("/" in request.resource and f"*/{request.resource.split('/', 1)[1]}" in resources)
        or ("/" not in request.resource and base in resources)
    )
    name_ok = not names or (request.name is not None and request.name in names)
    return (
        ("*" in groups or request.group in groups)
        and resource_ok
        and ("*" in verbs or request.verb in verbs)
        and name_ok
    )


def allows(rules: Iterable[Mapping[str, Any]], request: Request) -> bool:
    """Whether any rule allows `request`."""
    return any(rule_allows(rule, request) for rule in rules)
