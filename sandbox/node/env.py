"""Pure: a container's environment from its ``env`` entries, as the kubelet resolves them at start.

``value`` is taken as is; ``valueFrom`` is resolved from a ConfigMap or a Secret (through a lookup
the caller gives, so this module does no I/O; the node fetches the objects with its own identity,
which the Node authorizer lets read exactly the ConfigMaps and Secrets its Pods reference) or from
the Pod's own fields. A reference that cannot be resolved and is not ``optional`` is an
:class:`EnvError`, which the node reports as the kubelet does: waiting reason
``CreateContainerConfigError``. ``$(VAR)`` expansion, ``envFrom`` and ``resourceFieldRef`` are not
supported (an entry using them is skipped).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

Kind = Literal["configmaps", "secrets"]
Lookup = Callable[[Kind, str, str], Mapping[str, Any] | None]
"""``(kind, namespace, name) -> object`` (the raw ConfigMap or Secret), or None when it does not exist."""
_REFERENCES: tuple[tuple[Kind, str, str], ...] = (
    ("configmaps", "configMapKeyRef", "configmap"),
    ("secrets", "secretKeyRef", "secret"),
)


class EnvError(ValueError):
    """A referenced ConfigMap, Secret or key is missing; the message is the kubelet's."""


def _field(pod: Mapping[str, Any], path: str, pod_ip: str | None, host_ip: str) -> str | None:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple: dict[str, Any] = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        value = simple[path]
        return "" if value is None else str(value)
    for prefix, source in (("metadata.labels", "labels"), ("metadata.annotations", "annotations")):
        if path.startswith(f"{prefix}['") and path.endswith("']"):
            return str((meta.get(source) or {}).get(path[len(prefix) + 2 : -2], ""))
    return None


def _key_of(kind: Kind, obj: Mapping[str, Any], key: str) -> str | None:
    data = obj.get("data") or {}
    if kind == "configmaps":
        if key in data:
            return str(data[key])
        binary = (obj.get("binaryData") or {}).get(key)
        return _decoded(binary) if binary is not None else None
    if key in data:
        return _decoded(data[key])
    string_data = obj.get("stringData") or {}
    return str(string_data[key]) if key in string_data else None


def _decoded(value: object) -> str:
    try:
        return base64.b64decode(str(value), validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return str(value)


def resolve_env(
    entries: Iterable[Mapping[str, Any]],
    pod: Mapping[str, Any],
    *,
    pod_ip: str | None,
    host_ip: str,
    lookup: Lookup,
) -> dict[str, str]:
    """The environment variables of one container, in declaration order (a later entry wins)."""
    namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
    env: dict[str, str] = {}
    for entry in entries:
        name = str(entry.get("name"))
        if "value" in entry or "valueFrom" not in entry:
            env[name] = str(entry.get("value") or "")
            continue
        source = entry.get("valueFrom") or {}
        resolved: str | None = None
        if "fieldRef" in source:
            resolved = _field(pod, str((source["fieldRef"] or {}).get("fieldPath") or ""), pod_ip, host_ip)
        for kind, ref_key, label in _REFERENCES:
            ref = source.get(ref_key)
            if not isinstance(ref, Mapping):
                continue
            optional = bool(ref.get("optional"))
            ref_name, key = str(ref.get("name") or ""), str(ref.get("key") or "")
            obj = lookup(kind, namespace, ref_name)
            if obj is None:
                if optional:
                    break
                raise EnvError(f'{label} "{ref_name}" not found')
            resolved = _key_of(kind, obj, key)
            if resolved is None and not optional:
                raise EnvError(f"couldn't find key {key} in {label.capitalize()} {namespace}/{ref_name}")
        if resolved is not None:
            env[name] = resolved
    return env
