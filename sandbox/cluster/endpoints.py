"""Pure: the core/v1 Endpoints object of a Service, as the Endpoints controller writes it.

Ready selected Pods are ``addresses``, the others ``notReadyAddresses``. In the sandbox every replica
listens on its own port of 127.0.0.1, so addresses are grouped into one subset per distinct set of
resolved ports (a real cluster has one subset when all Pods declare the same ports).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sandbox.cluster.pods import is_ready, pod_ports


def selects(service: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """True when ``service`` (with a non-empty selector) selects ``pod`` in its namespace."""
    selector = (service.get("spec") or {}).get("selector") or {}
    pod_meta = pod.get("metadata") or {}
    if not selector or pod_meta.get("namespace") != (service.get("metadata") or {}).get("namespace"):
        return False
    labels = pod_meta.get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def endpoints_manifest(
    service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """The Endpoints object for ``service``; None for a Service without a selector (managed by hand)."""
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    if not spec.get("selector"):
        return None
    service_ports = [p for p in spec.get("ports") or [] if isinstance(p, Mapping)]
    subsets: dict[tuple[tuple[str, int, str], ...], dict[str, list[dict[str, Any]]]] = {}
    for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name"))):
        if not selects(service, pod) or not (pod.get("status") or {}).get("podIP"):
            continue
        main, declared = pod_ports(pod)
        if main is None:
            continue
        resolved = tuple(
            (
                str(p.get("name") or ""),
                declared.get(p.get("targetPort", p.get("port")), main),
                str(p.get("protocol") or "TCP"),
            )
            for p in service_ports
        )
        pod_meta = pod.get("metadata") or {}
        address = {
            "ip": pod["status"]["podIP"],
            "nodeName": (pod.get("spec") or {}).get("nodeName"),
            "targetRef": {
                "kind": "Pod",
                "namespace": pod_meta.get("namespace"),
                "name": pod_meta.get("name"),
                "uid": pod_meta.get("uid"),
            },
        }
        group = subsets.setdefault(resolved, {"addresses": [], "notReadyAddresses": []})
        group["addresses" if is_ready(pod) else "notReadyAddresses"].append(address)
    rendered = []
    for resolved, group in subsets.items():
        subset: dict[str, Any] = {
            "ports": [
                {**({"name": name} if name else {}), "port": port, "protocol": protocol}
                for name, port, protocol in resolved
            ]
        }
        subset.update({k: v for k, v in group.items() if v})
        rendered.append(subset)
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "labels": dict(meta.get("labels") or {}),
        },
        "subsets": rendered,
    }
