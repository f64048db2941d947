"""Deployments: the primary copied from the target, pod templates, scaling, and readiness.

The primary `<target>-primary` runs the target's pod template under a selector of its own
(`<label>: <value>-primary`, where `<label>` is the first of `app`, `app.kubernetes.io/name`, `name`
in the target's selector), so the `-primary` and `-canary` Services tell the two apart. GitOps
ownership marks are not copied (see `controller.kube.ownership`). Deadlines are the core's business:
`readiness` reports what the Deployment says, nothing more.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from controller.kube.objects import DEPLOYMENT, Conflict, Obj, Objects
from controller.kube.ownership import MANAGED_BY, MANAGED_BY_LABEL, OwnerRef, with_owner, without_gitops_keys

SELECTOR_LABELS = ("app", "app.kubernetes.io/name", "name")
_COPIED_SPEC_FIELDS = ("minReadySeconds", "progressDeadlineSeconds", "revisionHistoryLimit", "strategy")
ATTEMPTS = 3


class WorkloadError(ValueError):
    """The target cannot be turned into a primary as it stands."""


def primary_name(target: str) -> str:
    """`<target>-primary`."""
    return f"{target}-primary"


def selector_label(target: Mapping[str, Any]) -> tuple[str, str]:
    """The (label, value) that tells the target's pods apart; it must be in its selector."""
    meta = target.get("metadata") or {}
    labels = ((target.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    for key in SELECTOR_LABELS:
        if labels.get(key):
            return key, str(labels[key])
    raise WorkloadError(f"Deployment {meta.get('namespace', '')}/{meta.get('name', '')}: "
                        f"spec.selector.matchLabels needs one of {', '.join(SELECTOR_LABELS)} "
                        "to tell primary and canary pods apart")


def primary_selector(target: Mapping[str, Any]) -> dict[str, str]:
    """The primary pods' selector: the target's selector label with `-primary` appended."""
    key, value = selector_label(target)
    return {key: f"{value}-primary"}


def canary_selector(target: Mapping[str, Any]) -> dict[str, str]:
    """The target (canary) pods' selector: the target's own matchLabels."""
    selector_label(target)  # validates
    return dict(target["spec"]["selector"]["matchLabels"])


def primary_template(target: Mapping[str, Any], template: Mapping[str, Any] | None = None) -> Obj:
    """The pod template for the primary: `template` (default: the target's), relabelled, marks filtered."""
    key, value = selector_label(target)
    if template is None:
        template = (target.get("spec") or {}).get("template") or {}
    tpl = copy.deepcopy(dict(template))
    meta = dict(tpl.get("metadata") or {})
    meta["labels"] = {**without_gitops_keys(meta.get("labels"), top_level=False), key: f"{value}-primary"}
    notes = without_gitops_keys(meta.get("annotations"), top_level=False)
    if notes:
        meta["annotations"] = notes
    else:
        meta.pop("annotations", None)
    tpl["metadata"] = meta
    return tpl


def build_primary(current: Mapping[str, Any] | None, target: Mapping[str, Any], owner: OwnerRef | None,
                  template: Mapping[str, Any] | None = None) -> Obj:
    """The desired primary Deployment from the target (pure).

    Replicas follow the target while it runs (>0); a scaled-down target (between runs) leaves the
    primary's replicas as they are, or 1 for a new primary.
    """
    tmeta = target.get("metadata") or {}
    tspec = target.get("spec") or {}
    name = primary_name(str(tmeta.get("name", "")))
    obj: Obj = copy.deepcopy(dict(current)) if current is not None else {}
    obj.update(apiVersion=DEPLOYMENT.api_version, kind=DEPLOYMENT.kind)
    meta = obj.setdefault("metadata", {})
    meta.update(name=name, namespace=tmeta.get("namespace"))
    meta["labels"] = {**(meta.get("labels") or {}), **without_gitops_keys(tmeta.get("labels")),
                      MANAGED_BY_LABEL: MANAGED_BY}
    refs = with_owner(meta.get("ownerReferences"), owner)
    if refs:
        meta["ownerReferences"] = refs
    spec = obj.setdefault("spec", {})
    # The selector of a Deployment is immutable: keep the stored one.
    spec.setdefault("selector", {"matchLabels": primary_selector(target)})
    for field in _COPIED_SPEC_FIELDS:
        if field in tspec:
            spec[field] = copy.deepcopy(tspec[field])
    replicas = tspec.get("replicas", 1)
    if isinstance(replicas, int) and replicas > 0:
        spec["replicas"] = replicas
    else:
        spec.setdefault("replicas", 1)
    spec["template"] = primary_template(target, template)
    return obj


@dataclass(frozen=True)
class Readiness:
    """A Deployment's rollout as `kubectl rollout status` sees it."""

    ready: bool
    replicas: int  # desired
    updated: int
    available: int
    observed: bool  # the controller has seen the current generation
    stalled: bool  # the Deployment controller reports ProgressDeadlineExceeded
    message: str


def readiness_of(obj: Mapping[str, Any]) -> Readiness:
    """Readiness of a stored Deployment (pure), with `kubectl rollout status`'s wording."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    name = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    desired = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    available = int(status.get("availableReplicas", 0))
    current = int(status.get("replicas", 0))
    observed = int(status.get("observedGeneration", 0)) >= int(meta.get("generation", 0))
    stalled = any(c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
                  for c in status.get("conditions") or [])

    def result(ready: bool, message: str) -> Readiness:
        return Readiness(ready, desired, updated, available, observed, stalled, message)

    if not observed:
        return result(False, f"deployment {name}: waiting for the spec update to be observed")
    if stalled:
        return result(False, f"deployment {name} exceeded its progress deadline")
    if updated < desired:
        return result(False, f"deployment {name}: {updated} out of {desired} new replicas have been updated")
    if current > updated:
        return result(False, f"deployment {name}: {current - updated} old replicas are pending termination")
    if available < updated:
        return result(False, f"deployment {name}: {available} of {updated} updated replicas are available")
    return result(True, f"deployment {name} successfully rolled out")


class Workloads(Protocol):
    """Port: the Deployments Serinus runs a canary with."""

    def ensure_primary(self, canary: Mapping[str, Any], target: str,
                       template: Mapping[str, Any] | None = None) -> Obj:
        """Create or update `<target>-primary` from the target (or from `template`)."""
        ...

    def apply_pod_template(self, namespace: str, target: str, template: Mapping[str, Any]) -> Obj:
        """Set the target Deployment's pod template."""
        ...

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        """Set a Deployment's replicas."""
        ...

    def readiness(self, namespace: str, name: str) -> Readiness | None:
        """The Deployment's readiness, or None when it does not exist."""
        ...

    def get(self, namespace: str, name: str) -> Obj | None:
        """The Deployment, or None."""
        ...


class KubeWorkloads:
    """`Workloads` over the `Objects` port (real or in-memory)."""

    def __init__(self, objects: Objects) -> None:
        self.objects = objects

    def get(self, namespace: str, name: str) -> Obj | None:
        """The Deployment, or None."""
        return self.objects.get(DEPLOYMENT, namespace, name)

    def _target(self, namespace: str, target: str) -> Obj:
        obj = self.get(namespace, target)
        if obj is None:
            raise WorkloadError(f"target Deployment {namespace}/{target} does not exist")
        return obj

    def ensure_primary(self, canary: Mapping[str, Any], target: str,
                       template: Mapping[str, Any] | None = None) -> Obj:
        """Create or update the primary; writes only when something changed; re-reads on conflict."""
        namespace = str((canary.get("metadata") or {}).get("namespace", ""))
        owner = OwnerRef.of(canary)
        for _ in range(ATTEMPTS):
            source = self._target(namespace, target)
            current = self.get(namespace, primary_name(target))
            desired = build_primary(current, source, owner, template)
            if current is None:
                return self.objects.create(DEPLOYMENT, namespace, desired)
            if desired == current:
                return current
            try:
                return self.objects.replace(DEPLOYMENT, namespace, primary_name(target), desired)
            except Conflict:
                continue
        raise Conflict(f"Deployment {namespace}/{primary_name(target)} changed under every one of "
                       f"{ATTEMPTS} writes")

    def apply_pod_template(self, namespace: str, target: str, template: Mapping[str, Any]) -> Obj:
        """Replace the target's pod template (guarded; re-read on conflict)."""
        for _ in range(ATTEMPTS):
            current = self._target(namespace, target)
            if current.get("spec", {}).get("template") == template:
                return current
            spec = {**current.get("spec", {}), "template": copy.deepcopy(dict(template))}
            desired = {**current, "spec": spec}
            try:
                return self.objects.replace(DEPLOYMENT, namespace, target, desired)
            except Conflict:
                continue
        raise Conflict(f"Deployment {namespace}/{target} changed under every one of {ATTEMPTS} writes")

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        """Scale through the scale subresource (no write when already at `replicas`)."""
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise WorkloadError(f"cannot scale Deployment {namespace}/{name} to {replicas!r} replicas")
        current = self.get(namespace, name)
        if current is None:
            raise WorkloadError(f"Deployment {namespace}/{name} does not exist")
        if (current.get("spec") or {}).get("replicas") == replicas:
            return
        self.objects.scale(DEPLOYMENT, namespace, name, replicas)

    def readiness(self, namespace: str, name: str) -> Readiness | None:
        """Readiness of the stored Deployment."""
        obj = self.get(namespace, name)
        return None if obj is None else readiness_of(obj)
