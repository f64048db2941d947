"""`meta.k8s.io/v1 Table` answers for `kubectl get`: built-in columns per kind, and a CRD's
additionalPrinterColumns (NAME and AGE when it has none)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox.apiserver.resources import ResourceType

Column = tuple[str, str, str, int, Callable[[dict[str, Any]], Any]]  # name, type, format, priority, cell


def human_duration(seconds: float) -> str:
    """Kubernetes' `duration.HumanDuration` (the AGE column)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m" if s % 60 == 0 else f"{m}m{s % 60}s"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h" if m % 60 == 0 else f"{h}h{m % 60}m"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d" if h % 24 == 0 else f"{h // 24}d{h % 24}h"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    if h < 24 * 365 * 8:
        d = h // 24 - 365 * (h // 24 // 365)
        return f"{h // 24 // 365}y" if d == 0 else f"{h // 24 // 365}y{d}d"
    return f"{h // 24 // 365}y"


def age(timestamp: str | None) -> str:
    """Time since an RFC 3339 timestamp, as the AGE column shows it."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    return human_duration((datetime.now(UTC) - then).total_seconds())


# --- a JSONPath subset: .a.b, .a[0], .a[*].b, .a[?(@.k=="v")].b ---------------------------------

_TOKEN = re.compile(
    r"\.([A-Za-z0-9_\-/]+)|\[(\d+|\*)\]|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*['\"]([^'\"]*)['\"]\)\]"
)


def jsonpath(obj: Any, path: str) -> list[Any]:
    """All values at `path` (a printer-column JSONPath) in `obj`."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    current = [obj]
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m:
            return []
        pos = m.end()
        nxt: list[Any] = []
        for value in current:
            if m.group(1) is not None and isinstance(value, dict) and m.group(1) in value:
                nxt.append(value[m.group(1)])
            elif m.group(2) is not None and isinstance(value, list):
                if m.group(2) == "*":
                    nxt.extend(value)
                elif int(m.group(2)) < len(value):
                    nxt.append(value[int(m.group(2))])
            elif m.group(3) is not None and isinstance(value, list):
                key, want = m.group(3), m.group(4)
                nxt.extend(v for v in value if isinstance(v, dict) and str(_dig(v, key)) == want)
        current = nxt
    return current


def _dig(obj: dict[str, Any], dotted: str) -> Any:
    cur: Any = obj
    for part in dotted.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def _crd_cell(col: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    kind = col.get("type", "string")

    def cell(obj: dict[str, Any]) -> Any:
        values = jsonpath(obj, col.get("jsonPath", ""))
        if not values:
            return None
        value = values[0]
        if kind == "date" and isinstance(value, str):
            return age(value)
        if kind == "integer" and isinstance(value, int | float):
            return int(value)
        if kind == "number" and isinstance(value, int | float):
            return value
        if kind == "boolean" and isinstance(value, bool):
            return value
        if isinstance(value, dict | list):
            return json.dumps(value, separators=(",", ":"))
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value) if kind == "string" else value

    return cell


def _meta(obj: dict[str, Any], key: str) -> Any:
    return obj.get("metadata", {}).get(key)


def _name(obj: dict[str, Any]) -> Any:
    return _meta(obj, "name")


def _age(obj: dict[str, Any]) -> str:
    return age(_meta(obj, "creationTimestamp"))


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def _ports(obj: dict[str, Any]) -> str:
    ports = _spec(obj).get("ports") or []
    text = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports)
    return text or "<none>"


def _pod_ready(obj: dict[str, Any]) -> str:
    containers = _spec(obj).get("containers") or []
    ready = sum(1 for c in _status(obj).get("containerStatuses") or [] if c.get("ready"))
    return f"{ready}/{len(containers)}"


def _images(obj: dict[str, Any]) -> str:
    containers = ((_spec(obj).get("template") or {}).get("spec") or {}).get("containers") or []
    return ",".join(c.get("image", "") for c in containers)


def _containers(obj: dict[str, Any]) -> str:
    containers = ((_spec(obj).get("template") or {}).get("spec") or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in containers)


def _selector(obj: dict[str, Any]) -> str:
    sel = _spec(obj).get("selector") or {}
    labels = sel.get("matchLabels", sel) if isinstance(sel, dict) else {}
    return ",".join(f"{k}={v}" for k, v in labels.items() if isinstance(v, str)) or "<none>"


def _n(name: str, fn: Callable[[dict[str, Any]], Any], kind: str = "string", priority: int = 0) -> Column:
    return (name, kind, "name" if name == "Name" else "", priority, fn)


_NAME = _n("Name", _name)
_AGE = _n("Age", _age)

BUILTIN_COLUMNS: dict[tuple[str, str], list[Column]] = {
    ("", "Namespace"): [_NAME, _n("Status", lambda o: _status(o).get("phase", "")), _AGE],
    ("", "ConfigMap"): [
        _NAME,
        _n("Data", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}), "integer"),
        _AGE,
    ],
    ("", "Secret"): [
        _NAME,
        _n("Type", lambda o: o.get("type", "")),
        _n("Data", lambda o: len(o.get("data") or {}), "integer"),
        _AGE,
    ],
    ("", "Service"): [
        _NAME,
        _n("Type", lambda o: _spec(o).get("type", "ClusterIP")),
        _n("Cluster-IP", lambda o: _spec(o).get("clusterIP") or "<none>"),
        _n("External-IP", lambda o: ",".join(_spec(o).get("externalIPs") or []) or "<none>"),
        _n("Port(s)", _ports),
        _AGE,
        _n("Selector", _selector, priority=1),
    ],
    ("", "Endpoints"): [
        _NAME,
        _n(
            "Endpoints",
            lambda o: (
                ",".join(
                    f"{a.get('ip')}:{p.get('port')}"
                    for s in o.get("subsets") or []
                    for a in s.get("addresses") or []
                    for p in s.get("ports") or []
                )
                or "<none>"
            ),
        ),
        _AGE,
    ],
    ("", "Pod"): [
        _NAME,
        _n("Ready", _pod_ready),
        _n("Status", lambda o: _status(o).get("phase", "")),
        _n(
            "Restarts",
            lambda o: sum(c.get("restartCount", 0) for c in _status(o).get("containerStatuses") or []),
            "integer",
        ),
        _AGE,
        _n("IP", lambda o: _status(o).get("podIP") or "<none>", priority=1),
        _n("Node", lambda o: _spec(o).get("nodeName") or "<none>", priority=1),
    ],
    ("", "ServiceAccount"): [_NAME, _n("Secrets", lambda o: len(o.get("secrets") or []), "integer"), _AGE],
    ("", "Event"): [
        _n(
            "Last Seen",
            lambda o: age(o.get("lastTimestamp") or o.get("eventTime") or _meta(o, "creationTimestamp")),
        ),
        _n("Type", lambda o: o.get("type", "")),
        _n("Reason", lambda o: o.get("reason", "")),
        _n(
            "Object",
            lambda o: "{}/{}".format(
                (o.get("involvedObject") or {}).get("kind", "").lower(),
                (o.get("involvedObject") or {}).get("name", ""),
            ),
        ),
        _n("Message", lambda o: o.get("message", "")),
    ],
    ("apps", "Deployment"): [
        _NAME,
        _n("Ready", lambda o: f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 1)}"),
        _n("Up-to-date", lambda o: _status(o).get("updatedReplicas", 0), "integer"),
        _n("Available", lambda o: _status(o).get("availableReplicas", 0), "integer"),
        _AGE,
        _n("Containers", _containers, priority=1),
        _n("Images", _images, priority=1),
        _n("Selector", _selector, priority=1),
    ],
    ("apps", "ReplicaSet"): [
        _NAME,
        _n("Desired", lambda o: _spec(o).get("replicas", 1), "integer"),
        _n("Current", lambda o: _status(o).get("replicas", 0), "integer"),
        _n("Ready", lambda o: _status(o).get("readyReplicas", 0), "integer"),
        _AGE,
    ],
    ("discovery.k8s.io", "EndpointSlice"): [
        _NAME,
        _n("AddressType", lambda o: o.get("addressType", "")),
        _n("Ports", lambda o: ",".join(str(p.get("port")) for p in o.get("ports") or []) or "<unset>"),
        _n(
            "Endpoints",
            lambda o: (
                ",".join(a for e in o.get("endpoints") or [] for a in e.get("addresses") or []) or "<unset>"
            ),
        ),
        _AGE,
    ],
    ("coordination.k8s.io", "Lease"): [
        _NAME,
        _n("Holder", lambda o: _spec(o).get("holderIdentity", "")),
        _AGE,
    ],
    ("apiextensions.k8s.io", "CustomResourceDefinition"): [
        _NAME,
        _n("Created At", lambda o: _meta(o, "creationTimestamp"), "date"),
    ],
}


def columns_for(rt: ResourceType) -> list[Column]:
    """The columns the server prints for a resource type."""
    if rt.custom:
        if not rt.printer_columns:
            return [_NAME, _AGE]
        extra = [
            (c["name"], c.get("type", "string"), c.get("format", ""), int(c.get("priority", 0)), _crd_cell(c))
            for c in rt.printer_columns
        ]
        return [_NAME, *extra]
    key = ("", "Event") if rt.group == "events.k8s.io" else (rt.group, rt.kind)
    return BUILTIN_COLUMNS.get(key, [_NAME, _AGE])


_NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_CREATION_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this "
    "value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for "
    "lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata"
)


def _descriptions(rt: ResourceType, cols: list[Column]) -> list[str]:
    """Each column's description: for a custom resource as the CRD table convertor writes it (the
    ObjectMeta docs for Name and the default Age, a printer column's own description, else its
    JSONPath); for built-in kinds the column's name."""
    if not rt.custom:
        return [name for name, *_ in cols]
    if not rt.printer_columns:
        return [_NAME_DOC, _CREATION_DOC]
    own = [
        str(
            c.get("description")
            or f"Custom resource definition column (in JSONPath format): {c.get('jsonPath')}"
        )
        for c in rt.printer_columns
    ]
    return [_NAME_DOC, *own]


def to_table(
    rt: ResourceType,
    objects: list[dict[str, Any]],
    include_object: str,
    list_meta: dict[str, Any],
    core_view: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Table of `objects` (already presented for `rt`); `core_view` maps events.k8s.io back."""
    cols = columns_for(rt)
    rows = []
    for obj in objects:
        source = core_view(obj) if core_view else obj
        row: dict[str, Any] = {"cells": [fn(source) for *_, fn in cols]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata", {}),
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": [
            {"name": name, "type": kind, "format": fmt, "description": description, "priority": priority}
            for (name, kind, fmt, priority, _), description in zip(cols, _descriptions(rt, cols), strict=True)
        ],
        "rows": rows,
    }
