"""The kinds the emulator serves: built-in ones and those registered by CustomResourceDefinitions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class ResourceType:
    """One resource (`deployments` in `apps/v1`) and what discovery says about it."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    scale_subresource: bool = False
    # Kinds whose strategy sets metadata.generation (workloads, custom resources).
    generation: bool = False
    # True for custom resources: strategic-merge patch is refused, the CRD schema applies.
    custom: bool = False
    storage_group: str | None = None  # where objects live: events.k8s.io Events share core Events
    storage_plural: str | None = None
    name_rule: str = "subdomain"  # or "label" (namespaces, services)
    # For custom resources: schema, printer columns, scale paths of the served version.
    schema: dict[str, Any] | None = None
    printer_columns: tuple[dict[str, Any], ...] = ()
    scale_paths: dict[str, str] = field(default_factory=dict)

    @property
    def api_version(self) -> str:
        """`apps/v1`, or `v1` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def store_key(self) -> tuple[str, str]:
        """The storage bucket: all versions of one group/resource share objects."""
        group = self.group if self.storage_group is None else self.storage_group
        return (group, self.storage_plural or self.plural)


def _builtin() -> list[ResourceType]:
    r = ResourceType
    return [
        r(
            "",
            "v1",
            "namespaces",
            "namespace",
            "Namespace",
            False,
            ("ns",),
            (),
            status_subresource=True,
            name_rule="label",
        ),
        r("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",), ()),
        r("", "v1", "secrets", "secret", "Secret", True, (), ()),
        r(
            "",
            "v1",
            "services",
            "service",
            "Service",
            True,
            ("svc",),
            ("all",),
            status_subresource=True,
            name_rule="label",
        ),
        r("", "v1", "endpoints", "endpoints", "Endpoints", True, ("ep",), ()),
        r("", "v1", "events", "event", "Event", True, ("ev",), ()),
        r("", "v1", "pods", "pod", "Pod", True, ("po",), ("all",), status_subresource=True, generation=True),
        r("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",), ()),
        r(
            "apps",
            "v1",
            "deployments",
            "deployment",
            "Deployment",
            True,
            ("deploy",),
            ("all",),
            status_subresource=True,
            scale_subresource=True,
            generation=True,
        ),
        r(
            "apps",
            "v1",
            "replicasets",
            "replicaset",
            "ReplicaSet",
            True,
            ("rs",),
            ("all",),
            status_subresource=True,
            scale_subresource=True,
            generation=True,
        ),
        r("coordination.k8s.io", "v1", "leases", "lease", "Lease", True, (), ()),
        r("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", True, (), ()),
        # Ingress for the nginx router; RBAC and PodDisruptionBudget so a rendered Helm chart applies.
        r(
            "networking.k8s.io",
            "v1",
            "ingresses",
            "ingress",
            "Ingress",
            True,
            ("ing",),
            (),
            status_subresource=True,
            generation=True,
        ),
        r("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", True, (), ()),
        r("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", True, (), ()),
        r("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", False, (), ()),
        r(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "clusterrolebinding",
            "ClusterRoleBinding",
            False,
            (),
            (),
        ),
        r(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "poddisruptionbudget",
            "PodDisruptionBudget",
            True,
            ("pdb",),
            (),
            status_subresource=True,
            generation=True,
        ),
        r(
            "events.k8s.io",
            "v1",
            "events",
            "event",
            "Event",
            True,
            ("ev",),
            (),
            storage_group="",
            storage_plural="events",
        ),
        r(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "customresourcedefinition",
            "CustomResourceDefinition",
            False,
            ("crd", "crds"),
            ("api-extensions",),
            status_subresource=True,
            generation=True,
        ),
    ]


BUILTIN: tuple[ResourceType, ...] = tuple(_builtin())

# Preferred versions and group order for discovery; CRD groups are appended as they appear.
BUILTIN_GROUPS = ["apps", "events.k8s.io", "coordination.k8s.io", "apiextensions.k8s.io"]


def types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition serves, one per served version."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    out = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        scale = subresources.get("scale") or {}
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        out.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                singular=names.get("singular") or names["kind"].lower(),
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status_subresource="status" in subresources,
                scale_subresource="scale" in subresources,
                generation=True,
                custom=True,
                schema=schema,
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                scale_paths={k: v for k, v in scale.items() if isinstance(v, str)},
            )
        )
    return out


class Registry:
    """All served resource types, built-in first, then those of established CRDs."""

    def __init__(self) -> None:
        self._builtin = list(BUILTIN)
        self._crd: dict[str, list[ResourceType]] = {}

    def all(self) -> list[ResourceType]:
        """Every served (group, version, resource)."""
        out = list(self._builtin)
        for types in self._crd.values():
            out.extend(types)
        return out

    def register_crd(self, crd: dict[str, Any]) -> None:
        """Serve the CRD's resources (idempotent; replaces a previous registration)."""
        self._crd[crd["metadata"]["name"]] = types_from_crd(crd)

    def unregister_crd(self, name: str) -> None:
        """Stop serving the resources of the CRD `name`."""
        self._crd.pop(name, None)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type served at `/apis/<group>/<version>/<plural>`, if any."""
        for t in self.all():
            if t.group == group and t.version == version and t.plural == plural:
                return t
        return None

    def versions_of(self, group: str) -> list[str]:
        """Served versions of a group, preferred first (CRD order)."""
        seen: list[str] = []
        for t in self.all():
            if t.group == group and t.version not in seen:
                seen.append(t.version)
        return seen

    def groups(self) -> list[str]:
        """Named groups, built-in first."""
        out = [g for g in BUILTIN_GROUPS]
        for t in self.all():
            if t.group and t.group not in out:
                out.append(t.group)
        return out

    def crd_types(self, crd_name: str) -> list[ResourceType]:
        """Types registered for one CRD."""
        return list(self._crd.get(crd_name, []))
