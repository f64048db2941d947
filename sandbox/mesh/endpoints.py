"""Pure: a Service's ready endpoints, as the Endpoints controller would list them, in mesh form.

In the sandbox every replica listens on 127.0.0.1 on a port of its own, so a Service's ``targetPort``
(a number or a container port name) is translated through the replica's declared-port map to the
port its process really listens on; a target the container does not declare falls back to the
replica's main port (the sandbox's processes listen on one port per container).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sandbox.mesh.model import (
    Endpoint,
    MeshConfigError,
    ServicePort,
    object_label,
    require_list,
    require_mapping,
)


@dataclass(frozen=True)
class PodAddress:
    """What the Endpoints controller needs from one Pod (a runner's ``ReplicaState`` plus its labels)."""

    namespace: str
    labels: Mapping[str, str]
    ip: str
    main_port: int
    ready: bool
    ports: Mapping[str | int, int] = field(default_factory=dict)


def service_ports(service: Mapping[str, object]) -> list[tuple[ServicePort, Mapping[str, object], str]]:
    """Each port of a Service: ``(ServicePort, its spec.ports entry, where)`` (``where`` names the
    entry in messages); MeshConfigError for a port that is not a number."""
    _, namespace, name = object_label(service)
    where = f"Service {namespace}/{name}"
    spec = require_mapping(service.get("spec") or {}, f"{where}: spec")
    found = []
    for i, raw in enumerate(require_list(spec.get("ports"), f"{where}: spec.ports")):
        entry = require_mapping(raw, f"{where}: spec.ports[{i}]")
        port = entry.get("port")
        if isinstance(port, bool) or not isinstance(port, int):
            raise MeshConfigError(f"{where}: spec.ports[{i}].port must be a port number")
        found.append((ServicePort(namespace, name, port), entry, f"{where}: spec.ports[{i}]"))
    return found


def service_endpoints(
    service: Mapping[str, object], pods: Iterable[PodAddress]
) -> dict[ServicePort, list[Endpoint]]:
    """``{ServicePort: [(ip, port), ...]}`` for every port of ``service`` over its ready selected pods.

    A Service without a selector selects nothing (its Endpoints are managed by hand), as in Kubernetes.
    """
    _, namespace, name = object_label(service)
    where = f"Service {namespace}/{name}"
    spec = require_mapping(service.get("spec") or {}, f"{where}: spec")
    selector = require_mapping(spec.get("selector") or {}, f"{where}: spec.selector")
    chosen = [
        pod
        for pod in pods
        if selector
        and pod.ready
        and pod.namespace == namespace
        and all(pod.labels.get(k) == v for k, v in selector.items())
    ]
    table: dict[ServicePort, list[Endpoint]] = {}
    for service_port, entry, at in service_ports(service):
        target = entry.get("targetPort", service_port.port)
        if not isinstance(target, (int, str)) or isinstance(target, bool):
            raise MeshConfigError(f"{at}.targetPort must be a number or a port name")
        table[service_port] = sorted((pod.ip, pod.ports.get(target, pod.main_port)) for pod in chosen)
    return table
