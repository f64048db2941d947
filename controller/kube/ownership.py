"""Who owns an object: owner references to the Canary, and the GitOps marks Serinus must not copy.

Objects Serinus creates (the primary Deployment, Services, mesh routes) are derived from objects a
GitOps tool applied. Copying that tool's ownership marks would make the tool believe it owns our
copies: Flux would garbage-collect or fight them, Argo CD would show them as its own and prune them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "serinus"

# Label/annotation key prefixes (the part before "/") written by GitOps tools to track ownership.
_GITOPS_PREFIX_SUFFIXES = ("toolkit.fluxcd.io", "argocd.argoproj.io", "argoproj.io")
# Whole keys that mark ownership (Argo CD's default tracking label; kubectl's apply record;
# the revision counter the Deployment controller keeps on each Deployment).
_OWNERSHIP_KEYS = frozenset({
    "app.kubernetes.io/instance",
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
})
# Keys that are ownership marks on a top-level object but ordinary labels on pods: Argo CD tracks
# and prunes top-level objects only, and other tools (NetworkPolicies, monitors) select pods by them.
_TOP_LEVEL_ONLY = frozenset({"app.kubernetes.io/instance"})


def is_gitops_key(key: str, *, top_level: bool = True) -> bool:
    """True when a label or annotation key is a GitOps tool's (or kubectl's) ownership mark."""
    if key in _OWNERSHIP_KEYS:
        return top_level or key not in _TOP_LEVEL_ONLY
    prefix = key.split("/", 1)[0] if "/" in key else ""
    return any(prefix == s or prefix.endswith("." + s) for s in _GITOPS_PREFIX_SUFFIXES)


def without_gitops_keys(marks: Mapping[str, str] | None, *, top_level: bool = True) -> dict[str, str]:
    """A copy of labels or annotations without GitOps ownership keys."""
    return {k: v for k, v in (marks or {}).items() if not is_gitops_key(k, top_level=top_level)}


@dataclass(frozen=True)
class OwnerRef:
    """An owner reference to the object that owns what Serinus creates (the Canary)."""

    api_version: str
    kind: str
    name: str
    uid: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> OwnerRef:
        """The owner reference of a stored object (it must carry apiVersion, kind, name and uid)."""
        meta = obj.get("metadata") or {}
        missing = [f for f, v in (("apiVersion", obj.get("apiVersion")), ("kind", obj.get("kind")),
                                  ("metadata.name", meta.get("name")), ("metadata.uid", meta.get("uid")))
                   if not v]
        if missing:
            raise ValueError(f"cannot own objects by {meta.get('namespace', '')}/{meta.get('name', '')}: "
                             f"missing {', '.join(missing)}")
        return cls(str(obj["apiVersion"]), str(obj["kind"]), str(meta["name"]), str(meta["uid"]))

    def to_dict(self) -> dict[str, Any]:
        """The `metadata.ownerReferences` entry (controller=true: the Canary controls the object)."""
        return {"apiVersion": self.api_version, "kind": self.kind, "name": self.name, "uid": self.uid,
                "controller": True, "blockOwnerDeletion": True}


def with_owner(refs: list[dict[str, Any]] | None, owner: OwnerRef | None) -> list[dict[str, Any]]:
    """Owner references with ours set, keeping any others (another controller's are not ours to drop)."""
    kept = [dict(r) for r in refs or [] if owner is None or r.get("uid") != owner.uid]
    if owner is None:
        return kept
    # Only one owner may be the controller; ours wins on objects we manage.
    kept = [{**r, "controller": False} if r.get("controller") else r for r in kept]
    return [*kept, owner.to_dict()]
