"""Pure: a Service's ready endpoints read from its EndpointSlices, as a mesh's control plane reads them.

On the real control plane the EndpointSlice controller of kube-controller-manager publishes each
Service's endpoints (one or more ``discovery.k8s.io/v1`` slices labelled
``kubernetes.io/service-name``); the mesh only reads them. A slice port carries the Service port's
``name`` ("" when the Service has one unnamed port) and the resolved target port. An endpoint counts
when ``conditions.ready`` is not false (absent means unknown, which consumers treat as ready) and it
is not terminating.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sandbox.mesh.endpoints import service_ports
from sandbox.mesh.model import Endpoint, ServicePort, object_label

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def _ready(endpoint: Mapping[str, Any]) -> bool:
    conditions = endpoint.get("conditions") or {}
    return conditions.get("ready") is not False and conditions.get("terminating") is not True


def slice_endpoints(
    service: Mapping[str, object], slices: Iterable[Mapping[str, Any]]
) -> dict[ServicePort, list[Endpoint]]:
    """``{ServicePort: [(ip, port), ...]}`` for every port of ``service`` from its slices' ready endpoints."""
    _, namespace, name = object_label(service)
    own = [
        s for s in slices
        if (s.get("metadata") or {}).get("namespace") == namespace
        and ((s.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL) == name
        and s.get("addressType", "IPv4") == "IPv4"
    ]  # fmt: skip
    table: dict[ServicePort, list[Endpoint]] = {}
    for service_port, entry, _ in service_ports(service):
        port_name = str(entry.get("name") or "")
        found: set[Endpoint] = set()
        for piece in own:
            numbers = [
                p.get("port") for p in piece.get("ports") or [] if str(p.get("name") or "") == port_name
            ]
            for number in (n for n in numbers if isinstance(n, int) and not isinstance(n, bool)):
                for endpoint in piece.get("endpoints") or []:
                    if _ready(endpoint):
                        found.update((str(address), number) for address in endpoint.get("addresses") or [])
        table[service_port] = sorted(found)
    return table
