"""What the real API server's per-kind strategies do on write: defaults, initial status, and the
few validations Serinus relies on (names, Deployment selectors, CRD names)."""

from __future__ import annotations

import base64
import copy
import ipaddress
import re
from typing import Any

from sandbox.apiserver.errors import invalid
from sandbox.apiserver.resources import ResourceType
from sandbox.apiserver.selectors import Requirement, selector_from_match

_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"


def name_errors(rt: ResourceType, name: str) -> list[dict[str, str]]:
    """DNS-1123 subdomain (most kinds) or label (namespaces, services) checks on metadata.name."""
    if rt.name_rule == "label":
        if len(name) > 63:
            return [_cause("metadata.name", name, "must be no more than 63 characters")]
        if not re.fullmatch(_LABEL, name):
            return [
                _cause(
                    "metadata.name",
                    name,
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                    "or '-', and must start and end with an alphanumeric character (e.g. 'my-name', "
                    f" or '123-abc', regex used for validation is '{_LABEL}')",
                )
            ]
        return []
    if len(name) > 253:
        return [_cause("metadata.name", name, "must be no more than 253 characters")]
    if not re.fullmatch(_SUBDOMAIN, name):
        return [
            _cause(
                "metadata.name",
                name,
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                "'-' or '.', and must start and end with an alphanumeric character (e.g. "
                f"'example.com', regex used for validation is '{_SUBDOMAIN}')",
            )
        ]
    return []


def _cause(field: str, value: Any, message: str, reason: str = "FieldValueInvalid") -> dict[str, str]:
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    return {"reason": reason, "message": f"Invalid value: {shown}: {message}", "field": field}


def _required(field: str) -> dict[str, str]:
    return {"reason": "FieldValueRequired", "message": "Required value", "field": field}


class ClusterIPs:
    """Allocates Service cluster IPs from 10.96.0.0/12, as kube-apiserver's default range."""

    def __init__(self) -> None:
        self._net = ipaddress.ip_network("10.96.0.0/12")
        self._next = 1

    def allocate(self) -> str:
        """The next free address (addresses are never reused; the emulator is short-lived)."""
        self._next += 1
        return str(self._net.network_address + self._next)


def on_create(rt: ResourceType, obj: dict[str, Any], ips: ClusterIPs) -> None:
    """Defaults and initial status of a new object (mutates `obj`)."""
    kind = (rt.group, rt.kind)
    spec = obj.setdefault("spec", {}) if kind in _HAS_SPEC else obj.get("spec")
    if rt.status_subresource:
        obj.pop("status", None)
    if kind == ("", "Namespace"):
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    elif kind == ("", "Service") and isinstance(spec, dict):
        if spec.get("type", "ClusterIP") != "ExternalName" and not spec.get("clusterIP"):
            spec["clusterIP"] = ips.allocate()
        if spec.get("clusterIP") and spec.get("clusterIP") != "None":
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
        obj["status"] = {"loadBalancer": {}}
    elif kind == ("", "Pod"):
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif kind == ("apps", "Deployment"):
        obj["status"] = {}
    elif kind == ("apps", "ReplicaSet"):
        obj["status"] = {"replicas": 0}
    elif kind == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        obj["status"] = {}
    defaults(rt, obj)


_HAS_SPEC = {("apps", "Deployment"), ("apps", "ReplicaSet"), ("", "Service"), ("", "Pod")}


def defaults(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Defaulting applied on every write (create and update)."""
    kind = (rt.group, rt.kind)
    if kind == ("", "Secret"):
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None) or {}
        data = obj.setdefault("data", {}) if string_data else obj.get("data")
        for key, value in string_data.items():
            assert data is not None
            data[key] = base64.b64encode(str(value).encode()).decode()
    elif kind == ("", "Service"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    elif kind in (("apps", "Deployment"), ("apps", "ReplicaSet")):
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        if rt.kind == "Deployment":
            spec.setdefault("progressDeadlineSeconds", 600)
            strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
            if strategy.get("type", "RollingUpdate") == "RollingUpdate":
                strategy.setdefault("type", "RollingUpdate")
                strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
        for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []:
            for port in c.get("ports") or []:
                port.setdefault("protocol", "TCP")


def on_update(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any]) -> None:
    """Fields the server keeps across an update (mutates `obj`)."""
    if (rt.group, rt.kind) == ("", "Service"):
        spec, old_spec = obj.setdefault("spec", {}), old.get("spec") or {}
        for key in ("clusterIP", "clusterIPs"):
            if not spec.get(key) and old_spec.get(key):
                spec[key] = old_spec[key]
    if (rt.group, rt.kind) == ("", "Namespace"):
        obj.setdefault("spec", {}).setdefault("finalizers", (old.get("spec") or {}).get("finalizers", []))
    defaults(rt, obj)


def validate(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Kind-specific validation of built-ins; raises 422 Invalid."""
    name = obj["metadata"]["name"]
    causes: list[dict[str, str]] = []
    if (rt.group, rt.kind) in (("apps", "Deployment"), ("apps", "ReplicaSet")):
        spec = obj.get("spec") or {}
        selector = spec.get("selector")
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not selector:
            causes.append(_required("spec.selector"))
        else:
            reqs: list[Requirement] = selector_from_match(selector)
            if not reqs:
                causes.append(_cause("spec.selector", selector, "empty selector is invalid for deployment"))
            elif not all(r.matches(labels) for r in reqs):
                causes.append(
                    _cause(
                        "spec.template.metadata.labels", labels, "`selector` does not match template `labels`"
                    )
                )
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers")
        if not containers:
            causes.append(_required("spec.template.spec.containers"))
        for i, c in enumerate(containers or []):
            if not c.get("name"):
                causes.append(_required(f"spec.template.spec.containers[{i}].name"))
            if not c.get("image"):
                causes.append(_required(f"spec.template.spec.containers[{i}].image"))
        replicas = spec.get("replicas", 1)
        if not isinstance(replicas, int) or replicas < 0:
            causes.append(_cause("spec.replicas", replicas, "must be greater than or equal to 0"))
    if causes:
        raise invalid(rt.kind, rt.group, name, causes)


def accept_crd(crd: dict[str, Any], now: str) -> None:
    """What the CRD controllers write: accepted names and Established/NamesAccepted conditions."""
    names = copy.deepcopy(crd["spec"]["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    status = crd.setdefault("status", {})
    status["acceptedNames"] = names
    status["storedVersions"] = [v["name"] for v in crd["spec"]["versions"] if v.get("storage")]
    status["conditions"] = [
        {
            "type": "NamesAccepted",
            "status": "True",
            "lastTransitionTime": now,
            "reason": "NoConflicts",
            "message": "no conflicts found",
        },
        {
            "type": "Established",
            "status": "True",
            "lastTransitionTime": now,
            "reason": "InitialNamesAccepted",
            "message": "the initial names have been accepted",
        },
    ]


# --- core/v1 <-> events.k8s.io/v1 Event ---------------------------------------------------------

_EVENT_RENAMES = [
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("count", "deprecatedCount"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("source", "deprecatedSource"),
]


def event_to_core(obj: dict[str, Any]) -> dict[str, Any]:
    """Store an events.k8s.io/v1 Event in the core/v1 shape both APIs share."""
    out = copy.deepcopy(obj)
    for core, new in _EVENT_RENAMES:
        if new in out:
            out[core] = out.pop(new)
    if "reportingController" in out:
        out["reportingComponent"] = out.pop("reportingController")
    out["apiVersion"] = "v1"
    return out


def event_from_core(obj: dict[str, Any]) -> dict[str, Any]:
    """Show a stored Event as events.k8s.io/v1."""
    out = copy.deepcopy(obj)
    for core, new in _EVENT_RENAMES:
        if core in out:
            out[new] = out.pop(core)
    if "reportingComponent" in out:
        out["reportingController"] = out.pop("reportingComponent")
    return out
