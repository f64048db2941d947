"""The primary Deployment copied from the target (GitOps marks filtered), and rollout readiness."""

from __future__ import annotations

from typing import Any

import pytest

from controller.kube.memory import MemoryObjects
from controller.kube.objects import DEPLOYMENT, Conflict
from controller.kube.ownership import OwnerRef, is_gitops_key, without_gitops_keys
from controller.kube.workloads import (
    KubeWorkloads,
    WorkloadError,
    build_primary,
    canary_selector,
    primary_selector,
    readiness_of,
)

OWNER = OwnerRef("serinus.dev/v1alpha1", "Canary", "podinfo", "uid-c")


def target(replicas: int = 3) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "podinfo", "namespace": "shop",
                     "labels": {"app": "podinfo", "team": "web", "app.kubernetes.io/instance": "shop-podinfo",
                                "kustomize.toolkit.fluxcd.io/name": "apps",
                                "kustomize.toolkit.fluxcd.io/namespace": "flux-system"},
                     "annotations": {"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/podinfo"}},
        "spec": {
            "replicas": replicas,
            "minReadySeconds": 3,
            "selector": {"matchLabels": {"app": "podinfo"}},
            "template": {
                "metadata": {"labels": {"app": "podinfo", "app.kubernetes.io/instance": "shop-podinfo",
                                        "helm.toolkit.fluxcd.io/name": "podinfo"},
                             "annotations": {"prometheus.io/scrape": "true"}},
                "spec": {"containers": [{"name": "podinfo", "image": "ghcr.io/acme/podinfo:6.0.3"}]},
            },
        },
    }


@pytest.mark.parametrize(
    ("key", "top_level", "expected"),
    [
        ("kustomize.toolkit.fluxcd.io/name", True, True),
        ("helm.toolkit.fluxcd.io/namespace", True, True),
        ("argocd.argoproj.io/instance", True, True),
        ("argocd.argoproj.io/tracking-id", False, True),
        ("app.kubernetes.io/instance", True, True),
        ("app.kubernetes.io/instance", False, False),  # a pod label others select by
        ("kubectl.kubernetes.io/last-applied-configuration", True, True),
        ("app", True, False),
        ("fluxcd.io.example.com/x", True, False),
        ("my.toolkit.fluxcd.io.evil/x", True, False),
    ],
)
def test_gitops_key_filter(key: str, top_level: bool, expected: bool) -> None:
    assert is_gitops_key(key, top_level=top_level) is expected


def test_without_gitops_keys_keeps_the_rest() -> None:
    assert without_gitops_keys({"a": "1", "kustomize.toolkit.fluxcd.io/name": "x"}) == {"a": "1"}
    assert without_gitops_keys(None) == {}


def test_primary_copies_the_template_relabelled_and_filtered() -> None:
    obj = build_primary(None, target(), OWNER)
    meta, spec = obj["metadata"], obj["spec"]
    assert meta["name"] == "podinfo-primary"
    assert meta["labels"] == {"app": "podinfo", "team": "web", "app.kubernetes.io/managed-by": "serinus"}
    assert "annotations" not in meta
    assert meta["ownerReferences"] == [{"apiVersion": "serinus.dev/v1alpha1", "kind": "Canary",
                                        "name": "podinfo", "uid": "uid-c", "controller": True,
                                        "blockOwnerDeletion": True}]
    assert spec["selector"] == {"matchLabels": {"app": "podinfo-primary"}}
    assert spec["replicas"] == 3
    assert spec["minReadySeconds"] == 3
    pod = spec["template"]["metadata"]
    assert pod["labels"] == {"app": "podinfo-primary", "app.kubernetes.io/instance": "shop-podinfo"}
    assert pod["annotations"] == {"prometheus.io/scrape": "true"}
    assert spec["template"]["spec"]["containers"][0]["image"] == "ghcr.io/acme/podinfo:6.0.3"


def test_primary_keeps_replicas_while_the_target_is_scaled_down_and_its_selector() -> None:
    first = build_primary(None, target(0), OWNER)
    assert first["spec"]["replicas"] == 1
    current = {**first, "spec": {**first["spec"], "replicas": 4, "selector": {"matchLabels": {"app": "old"}}}}
    again = build_primary(current, target(0), OWNER)
    assert again["spec"]["replicas"] == 4
    assert again["spec"]["selector"] == {"matchLabels": {"app": "old"}}  # immutable: never rewritten


def test_selectors_and_a_target_without_a_known_label() -> None:
    assert primary_selector(target()) == {"app": "podinfo-primary"}
    assert canary_selector(target()) == {"app": "podinfo"}
    bad = target()
    bad["spec"]["selector"] = {"matchLabels": {"tier": "web"}}
    with pytest.raises(WorkloadError, match=r"needs one of app, app\.kubernetes\.io/name, name"):
        build_primary(None, bad, OWNER)


def _deploy(generation: int, status: dict[str, Any], replicas: int = 2) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns", "generation": generation},
            "spec": {"replicas": replicas}, "status": status}


@pytest.mark.parametrize(
    ("obj", "ready", "fragment"),
    [
        (_deploy(2, {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
         False, "to be observed"),
        (_deploy(2, {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1}),
         False, "1 out of 2 new replicas"),
        (_deploy(2, {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}),
         False, "1 old replicas are pending"),
        (_deploy(2, {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}),
         False, "1 of 2 updated replicas are available"),
        (_deploy(2, {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1,
                     "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]}),
         False, "exceeded its progress deadline"),
        (_deploy(2, {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
         True, "successfully rolled out"),
        (_deploy(1, {"observedGeneration": 1}, replicas=0), True, "successfully rolled out"),
    ],
)
def test_readiness_like_rollout_status(obj: dict[str, Any], ready: bool, fragment: str) -> None:
    r = readiness_of(obj)
    assert r.ready is ready
    assert fragment in r.message


def test_adapter_creates_updates_scales_and_writes_only_changes() -> None:
    store = MemoryObjects()
    store.create(DEPLOYMENT, "shop", target())
    canary = {"apiVersion": "serinus.dev/v1alpha1", "kind": "Canary",
              "metadata": {"name": "podinfo", "namespace": "shop", "uid": "uid-c"}}
    w = KubeWorkloads(store)
    w.ensure_primary(canary, "podinfo")
    w.ensure_primary(canary, "podinfo")
    assert [x[0] for x in store.writes] == ["create", "create"]  # target, then primary; no rewrite
    new_tpl = {**target()["spec"]["template"],
               "spec": {"containers": [{"name": "podinfo", "image": "ghcr.io/acme/podinfo:6.1.0"}]}}
    w.apply_pod_template("shop", "podinfo", new_tpl)
    store.fail_next("replace", Conflict("stale", 409))  # a concurrent writer: re-read and retry
    primary = w.ensure_primary(canary, "podinfo")
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/acme/podinfo:6.1.0"
    w.scale("shop", "podinfo", 0)
    w.scale("shop", "podinfo", 0)
    assert [x[0] for x in store.writes].count("scale") == 1
    with pytest.raises(WorkloadError, match="to -1 replicas"):
        w.scale("shop", "podinfo", -1)
    assert w.readiness("shop", "absent") is None
