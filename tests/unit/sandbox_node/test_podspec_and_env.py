"""Reading a bound Pod: containers, ports, probes, restart policy, grace, and container environments.

Pins: the first declared containerPort is where the process listens and ``{host}`` renders the Pod
IP; a declared HTTP readiness probe keeps its timing and a named port resolves against the
container's ports, while no probe means the image table's path on the container's own port; an
unknown image is a plan with an error, not an exception; ``deletionGracePeriodSeconds`` wins over
``terminationGracePeriodSeconds``. Environments: values, Pod fields, ConfigMap and Secret keys
(base64-decoded), optional references, and the kubelet's messages for missing ones.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest

from sandbox.config import parse_sandbox_config
from sandbox.node.env import EnvError, Kind, resolve_env
from sandbox.node.podspec import PodSpecError, is_deleting, plan_pod

CONFIG = parse_sandbox_config({
    "commands": {"app": ["{python}", "-m", "app", "--host", "{host}", "--port", "{port}", "--v", "{tag}"]},
    "images": {"demo/app:*": {"command": "app", "readiness_path": "/ready"}},
})  # fmt: skip


def pod(container: Mapping[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "uid": "u-1",
            "generation": 1,
            "labels": {"app": "web"},
        },
        "spec": {"nodeName": "sandbox", "containers": [container], **spec},
    }


def test_the_process_listens_on_the_pod_ip_and_the_first_declared_port() -> None:
    plan = plan_pod(pod({"name": "app", "image": "demo/app:2", "ports": [
        {"containerPort": 9898, "name": "http"}, {"containerPort": 9999, "name": "metrics"},
    ]}), CONFIG)  # fmt: skip
    container = plan.containers[0]
    assert container.declared_port == 9898
    assert container.command is not None
    assert container.command.argv(container.image, 9898, host="198.18.0.2")[3:] == [
        "--host", "198.18.0.2", "--port", "9898", "--v", "2",
    ]  # fmt: skip
    assert plan.key == "shop/web-1" and plan.uid == "u-1" and plan.restart_policy == "Always"


def test_a_declared_probe_keeps_its_timing_and_resolves_a_named_port() -> None:
    probe = {"httpGet": {"path": "/healthz", "port": "metrics"}, "initialDelaySeconds": 2,
             "periodSeconds": 3, "failureThreshold": 5, "successThreshold": 2}  # fmt: skip
    ports = [{"containerPort": 9898}, {"containerPort": 9999, "name": "metrics"}]
    raw = pod({"name": "app", "image": "demo/app:2", "readinessProbe": probe, "ports": ports})
    container = plan_pod(raw, CONFIG).containers[0]
    assert (container.probe.path, container.probe.initial_delay, container.probe.period) == ("/healthz", 2, 3)
    assert (container.probe.failure_threshold, container.probe.success_threshold) == (5, 2)
    assert container.probe.declared and container.probe_port(9898) == 9999


def test_without_a_probe_the_image_tables_path_is_probed_on_the_containers_port() -> None:
    container = plan_pod(pod({"name": "app", "image": "demo/app:2"}), CONFIG).containers[0]
    assert container.declared_port is None
    assert container.probe.path == "/ready" and not container.probe.declared
    assert container.probe_port(41234) == 41234


def test_an_unknown_image_is_planned_with_its_error() -> None:
    container = plan_pod(pod({"name": "app", "image": "nginx:1.27"}), CONFIG).containers[0]
    assert container.command is None and "nginx:1.27" in str(container.image_error)


def test_restart_policy_grace_and_deletion() -> None:
    raw = pod(
        {"name": "app", "image": "demo/app:2"}, restartPolicy="OnFailure", terminationGracePeriodSeconds=7
    )
    assert plan_pod(raw, CONFIG).restart_policy == "OnFailure"
    assert plan_pod(raw, CONFIG).grace_seconds == 7
    assert not is_deleting(raw)
    raw["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z", deletionGracePeriodSeconds=1)
    assert plan_pod(raw, CONFIG).grace_seconds == 1 and is_deleting(raw)


def test_a_pod_without_containers_is_refused() -> None:
    with pytest.raises(PodSpecError, match=r"spec.containers"):
        plan_pod({"metadata": {"name": "x"}, "spec": {"containers": []}}, CONFIG)
    with pytest.raises(PodSpecError, match=r"containers\[0\].image"):
        plan_pod(pod({"name": "app"}), CONFIG)


OBJECTS: dict[tuple[str, str], dict[str, Any]] = {
    ("configmaps", "settings"): {"data": {"color": "blue"}},
    ("secrets", "creds"): {"data": {"password": base64.b64encode(b"s3cret").decode()}},
}


def lookup(kind: Kind, namespace: str, name: str) -> Mapping[str, Any] | None:
    assert namespace == "shop"
    return OBJECTS.get((kind, name))


def env_of(*entries: Mapping[str, Any]) -> dict[str, str]:
    return resolve_env(entries, pod({"name": "app", "image": "demo/app:2"}, serviceAccountName="default"),
                       pod_ip="198.18.0.7", host_ip="127.0.0.1", lookup=lookup)  # fmt: skip


def test_values_pod_fields_configmap_and_secret_keys_are_resolved() -> None:
    env = env_of(
        {"name": "PLAIN", "value": "1"},
        {"name": "EMPTY"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "color"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
    )
    assert env == {"PLAIN": "1", "EMPTY": "", "POD": "web-1", "NS": "shop", "IP": "198.18.0.7", "APP": "web",
                   "COLOR": "blue", "PASSWORD": "s3cret"}  # fmt: skip


def test_optional_references_may_be_missing() -> None:
    env = env_of(
        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k", "optional": True}}},
        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nope", "optional": True}}},
    )
    assert env == {}


def test_missing_references_give_the_kubelets_messages() -> None:
    with pytest.raises(EnvError, match='configmap "absent" not found'):
        env_of({"name": "A", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}})
    with pytest.raises(EnvError, match="couldn't find key nope in Secret shop/creds"):
        env_of({"name": "B", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nope"}}})
