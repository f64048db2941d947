"""Pure: the core/v1 Endpoints object and the discovery.k8s.io/v1 EndpointSlices of a Service, as
the Endpoints and EndpointSlice controllers write them.

Ready selected Pods are ``addresses``, the others ``notReadyAddresses`` (in a slice: an endpoint
with ``conditions.ready`` false). In the sandbox every replica
listens on its own port of 127.0.0.1, so addresses are grouped into one subset per distinct set of
resolved ports (a real cluster has one subset when all Pods declare the same ports).
"""

from __future__ import annotations

import hashlib
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


Ports = tuple[tuple[str, int, str], ...]  # (name, resolved port, protocol) per Service port


def _grouped(
    service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]
) -> dict[Ports, list[Mapping[str, Any]]]:
    """The selected Pods with an IP, grouped by the ports the Service's ports resolve to on them."""
    service_ports = [p for p in (service.get("spec") or {}).get("ports") or [] if isinstance(p, Mapping)]
    groups: dict[Ports, list[Mapping[str, Any]]] = {}
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
        groups.setdefault(resolved, []).append(pod)
    return groups


def _target_ref(pod: Mapping[str, Any]) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    return {"kind": "Pod", "namespace": meta.get("namespace"), "name": meta.get("name"),
            "uid": meta.get("uid")}


def _ports(resolved: Ports) -> list[dict[str, Any]]:
    return [{**({"name": name} if name else {}), "port": port, "protocol": protocol}
            for name, port, protocol in resolved]


def endpoints_manifest(
    service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """The Endpoints object for ``service``; None for a Service without a selector (managed by hand)."""
    meta = service.get("metadata") or {}
    if not (service.get("spec") or {}).get("selector"):
        return None
    rendered = []
    for resolved, members in _grouped(service, pods).items():
        subset: dict[str, Any] = {"ports": _ports(resolved)}
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            addresses = [
                {"ip": pod["status"]["podIP"], "nodeName": (pod.get("spec") or {}).get("nodeName"),
                 "targetRef": _target_ref(pod)}
                for pod in members if is_ready(pod) is ready
            ]
            if addresses:
                subset[key] = addresses
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


SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"


def endpoint_slices(
    service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]] | None:
    """The discovery.k8s.io/v1 EndpointSlices of ``service``, one per distinct port set, as the
    EndpointSlice controller writes them (labelled with the Service's name, owned by the Service);
    None for a Service without a selector.

    Names are ``<service>-<hash of the ports>`` so a restarted controller finds its own slices again
    (the real controller uses generateName and finds them by label).
    """
    meta = service.get("metadata") or {}
    if not (service.get("spec") or {}).get("selector"):
        return None
    slices = []
    # With no endpoints at all the controller keeps one placeholder slice (no endpoints, no ports).
    for resolved, members in (_grouped(service, pods) or {(): []}).items():
        digest = hashlib.sha256(repr(resolved).encode()).hexdigest()[:5]
        endpoints = [
            {
                "addresses": [pod["status"]["podIP"]],
                "conditions": {"ready": is_ready(pod), "serving": is_ready(pod), "terminating": False},
                **({"nodeName": node} if (node := (pod.get("spec") or {}).get("nodeName")) else {}),
                "targetRef": _target_ref(pod),
            }
            for pod in members
        ]
        slices.append({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{meta.get('name')}-{digest}",
                "namespace": meta.get("namespace"),
                "labels": {**dict(meta.get("labels") or {}), SERVICE_NAME_LABEL: str(meta.get("name")),
                           MANAGED_BY_LABEL: MANAGED_BY},
                "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": meta.get("name"),
                                     "uid": meta.get("uid"), "controller": True, "blockOwnerDeletion": True}],
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
            **({"ports": _ports(resolved)} if resolved else {}),
        })
    return slices
