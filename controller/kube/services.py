"""The apex `<svc>`, `<svc>-primary` and `<svc>-canary` Services.

Serinus owns a Service's `selector` and `ports` (and its own label and owner reference); fields set
by the API server or another controller (`clusterIP`, `clusterIPs`, `nodePort`s, `type`, session
affinity, foreign labels) are kept. The apex selector is the router's to switch (blue/green), so an
existing apex keeps its selector unless one is given.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from controller.kube.objects import SERVICE, Conflict, Obj, Objects
from controller.kube.ownership import MANAGED_BY, MANAGED_BY_LABEL, OwnerRef, with_owner
from controller.kube.workloads import canary_selector, primary_selector

ATTEMPTS = 3


class ServiceSpecError(ValueError):
    """`spec.service` is not usable."""


@dataclass(frozen=True)
class ServicePort:
    """The port the Services expose, from the Canary's `spec.service`."""

    port: int
    target_port: int | str
    name: str = "http"
    app_protocol: str | None = None

    @classmethod
    def from_spec(cls, service: Mapping[str, Any], where: str = "spec.service") -> ServicePort:
        """Parse `spec.service` (`port`, `targetPort`, `portName`/`name`, `appProtocol`)."""
        port = service.get("port")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ServiceSpecError(f"{where}.port must be an integer within 1..65535, got {port!r}")
        target = service.get("targetPort", port)
        if isinstance(target, bool) or not isinstance(target, (int, str)) or target in ("", 0):
            raise ServiceSpecError(f"{where}.targetPort must be a port number or name, got {target!r}")
        name = service.get("portName") or service.get("name") or "http"
        proto = service.get("appProtocol")
        return cls(port, target, str(name), str(proto) if proto else None)

    def to_dict(self) -> dict[str, Any]:
        """The `spec.ports[]` entry."""
        out: dict[str, Any] = {"name": self.name, "port": self.port, "targetPort": self.target_port,
                               "protocol": "TCP"}
        if self.app_protocol:
            out["appProtocol"] = self.app_protocol
        return out


@dataclass(frozen=True)
class ServicePlan:
    """The three Services of one Canary."""

    namespace: str
    apex: str
    port: ServicePort
    primary_selector: Mapping[str, str]
    canary_selector: Mapping[str, str]
    owner: OwnerRef | None = None

    @classmethod
    def of(cls, canary: Mapping[str, Any], target: Mapping[str, Any]) -> ServicePlan:
        """The plan for a stored Canary and its target Deployment (pure)."""
        meta = canary.get("metadata") or {}
        spec = canary.get("spec") or {}
        service = spec.get("service") or {}
        name = service.get("name") or (spec.get("targetRef") or {}).get("name")
        if not name:
            raise ServiceSpecError(f"Canary {meta.get('namespace', '')}/{meta.get('name', '')}: neither "
                                   "spec.service.name nor spec.targetRef.name is set")
        return cls(namespace=str(meta.get("namespace", "")), apex=str(name),
                   port=ServicePort.from_spec(service),
                   primary_selector=primary_selector(target), canary_selector=canary_selector(target),
                   owner=OwnerRef.of(canary))

    def names(self) -> tuple[str, str, str]:
        """Apex, primary and canary Service names."""
        return self.apex, f"{self.apex}-primary", f"{self.apex}-canary"


def build_service(current: Mapping[str, Any] | None, namespace: str, name: str, *,
                  selector: Mapping[str, str] | None, port: ServicePort, owner: OwnerRef | None) -> Obj:
    """The desired Service (pure); `selector=None` keeps the current one."""
    obj: Obj = copy.deepcopy(dict(current)) if current is not None else {}
    obj.update(apiVersion="v1", kind="Service")
    meta = obj.setdefault("metadata", {})
    meta.update(name=name, namespace=namespace)
    meta["labels"] = {**(meta.get("labels") or {}), MANAGED_BY_LABEL: MANAGED_BY}
    refs = with_owner(meta.get("ownerReferences"), owner)
    if refs:
        meta["ownerReferences"] = refs
    spec = obj.setdefault("spec", {})
    if selector is not None:
        spec["selector"] = dict(selector)
    elif "selector" not in spec:
        raise ServiceSpecError(f"Service {namespace}/{name}: a new Service needs a selector")
    wanted = port.to_dict()
    # A nodePort the API server allocated stays with the port it was allocated for.
    for existing in spec.get("ports") or []:
        if existing.get("port") == port.port and "nodePort" in existing:
            wanted["nodePort"] = existing["nodePort"]
    spec["ports"] = [wanted]
    return obj


class Services(Protocol):
    """Port: make the three Services of a Canary exist as planned."""

    def ensure(self, plan: ServicePlan, apex_selector: Mapping[str, str] | None = None) -> dict[str, Obj]:
        """Create or update the Services; returns them by name."""
        ...


class KubeServices:
    """`Services` over the `Objects` port (real or in-memory); writes only changes."""

    def __init__(self, objects: Objects) -> None:
        self.objects = objects

    def _ensure_one(self, namespace: str, name: str, selector: Mapping[str, str] | None,
                    port: ServicePort, owner: OwnerRef | None) -> Obj:
        for _ in range(ATTEMPTS):
            current = self.objects.get(SERVICE, namespace, name)
            desired = build_service(current, namespace, name, selector=selector, port=port, owner=owner)
            if current is None:
                return self.objects.create(SERVICE, namespace, desired)
            if desired == current:
                return current
            try:
                return self.objects.replace(SERVICE, namespace, name, desired)
            except Conflict:
                continue
        raise Conflict(f"Service {namespace}/{name} changed under every one of {ATTEMPTS} writes")

    def ensure(self, plan: ServicePlan, apex_selector: Mapping[str, str] | None = None) -> dict[str, Obj]:
        """The apex (selecting the primary when new, else as the router left it), primary and canary."""
        apex, primary, canary = plan.names()
        out = {}
        existing_apex = self.objects.get(SERVICE, plan.namespace, apex)
        selector = apex_selector
        if selector is None and existing_apex is None:
            selector = plan.primary_selector
        out[apex] = self._ensure_one(plan.namespace, apex, selector, plan.port, plan.owner)
        out[primary] = self._ensure_one(plan.namespace, primary, plan.primary_selector, plan.port, plan.owner)
        out[canary] = self._ensure_one(plan.namespace, canary, plan.canary_selector, plan.port, plan.owner)
        return out
