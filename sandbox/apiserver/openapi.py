"""A minimal OpenAPI v3 index: kubectl reads it to learn that the server validates fields itself
(`fieldValidation`) instead of downloading schemas for client-side validation. It lists every
served group-version and the PATCH operation of each resource; no schemas."""

from __future__ import annotations

import hashlib
from typing import Any

from sandbox.apiserver.resources import Registry, ResourceType


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def root(registry: Registry) -> dict[str, Any]:
    """`/openapi/v3`: one entry per served group-version."""
    paths = {}
    for gv in sorted({(t.group, t.version) for t in registry.all()}):
        doc = group_version(registry, *gv)
        digest = hashlib.sha256(repr(doc).encode()).hexdigest()[:16].upper()
        path = _gv_path(*gv)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def _operation(rt: ResourceType) -> dict[str, Any]:
    return {
        "operationId": f"patch{rt.kind}",
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "parameters": [
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
        ],
        "responses": {"200": {"description": "OK"}},
    }


def group_version(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """`/openapi/v3/apis/<group>/<version>`: PATCH operations only, or None when not served."""
    types = [t for t in registry.all() if t.group == group and t.version == version]
    if not types:
        return None
    prefix = "/" + _gv_path(group, version)
    paths = {}
    for rt in types:
        item = (
            f"{prefix}/namespaces/{{namespace}}/{rt.plural}/{{name}}"
            if rt.namespaced
            else f"{prefix}/{rt.plural}/{{name}}"
        )
        paths[item] = {"patch": _operation(rt)}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }
