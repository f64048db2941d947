"""Fixtures of the ``sandbox up`` tests: the session sandbox, and manifests of the demo app."""

from __future__ import annotations

from typing import Any

from tests.e2e.sandbox_fixture import sandbox
from tests.polling import eventually

__all__ = ["deployment", "eventually", "httproute", "sandbox", "service"]

PORT = 9898


def deployment(
    name: str, image: str, replicas: int = 1, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """An apps/v1 Deployment of the demo app (namespace left to the sandbox's default)."""
    pod_labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": pod_labels},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "containers": [
                        {"name": "app", "image": image, "ports": [{"name": "http", "containerPort": PORT}]}
                    ]
                },
            },
        },
    }


def service(name: str, selector: dict[str, str]) -> dict[str, Any]:
    """A Service on the demo port, targeting the container port by name."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]},
    }


def httproute(name: str, host: str, weights: dict[str, int]) -> dict[str, Any]:
    """An HTTPRoute for ``host`` splitting between Services by weight."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"name": "sandbox"}],
            "hostnames": [host],
            "rules": [{"backendRefs": [{"name": s, "port": PORT, "weight": w} for s, w in weights.items()]}],
        },
    }
