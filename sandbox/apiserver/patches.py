"""JSON merge patch (RFC 7386), JSON patch (RFC 6902) and Kubernetes strategic merge patch."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.apiserver.errors import ApiError, bad_request


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch: maps merge, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- JSON patch -------------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _patch_error(f'invalid JSON pointer "{path}"')
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _container(doc: Any, parts: list[str], path: str) -> Any:
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise _patch_error(f'doc is missing path: "{path}": missing value')
    return cur


def _patch_error(message: str) -> ApiError:
    """The real server answers an inapplicable JSON patch (a failed `test` too) with a 422 that does not
    say why (NewGenericServerResponse); `message` is what the emulator knows, kept on the exception."""
    error = ApiError(
        422,
        "the server rejected our request due to an error in our request",
        body={
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "the server rejected our request due to an error in our request",
            "reason": "Invalid",
            "details": {},
            "code": 422,
        },
    )
    error.add_note(message)
    return error


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _container(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise _patch_error(f'doc is missing path: "{path}": missing value')


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _container(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise _patch_error(f"unable to remove nonexistent key: {last}: missing value")


def _add(doc: Any, path: str, value: Any, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _container(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict):  # replacing a missing key adds it (json-patch v5, as kube-apiserver)
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = value
            else:
                parent.insert(int(last), value)
        else:
            raise _patch_error(f'add operation does not apply: doc is missing path: "{path}": missing value')
    else:
        raise _patch_error(f'doc is missing path: "{path}": missing value')
    return doc


def json_patch(doc: Any, operations: Any) -> Any:
    """Apply RFC 6902 operations; a failed `test` or a missing path answers 422."""
    if not isinstance(operations, list):
        go = {dict: "object", str: "string", bool: "bool", int: "number", float: "number"}.get(
            type(operations)
        )
        raise bad_request(
            f"error decoding patch: json: cannot unmarshal {go or 'value'} into Go value of type "
            "[]handlers.jsonPatchOp"
        )
    doc = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise _patch_error(f"invalid JSON patch operation: {op!r}")
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op.get("value")), replace=True)
        elif kind == "move":
            value = _remove(doc, op["from"])
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op["from"])))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise _patch_error(f"testing value {path} failed: test failed")
        else:
            raise _patch_error(f"Unexpected kind: {kind}")
    return doc


# --- strategic merge patch --------------------------------------------------------------------

# patchMergeKey of list fields in the built-in types (from the Go struct tags); lists not named
# here are replaced wholesale, as their patchStrategy is "replace".
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "ports": "containerPort",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}
# Primitive lists with patchStrategy "merge" (a set union).
MERGE_SETS = {"finalizers"}


def _key_for(field: str, service: bool) -> str | None:
    if field == "ports" and service:
        return "port"  # ServiceSpec.ports merges by port, ContainerPort by containerPort
    return MERGE_KEYS.get(field)


def strategic_merge(original: Any, patch: Any, service: bool = False) -> Any:
    """Apply a strategic merge patch to a built-in object (directives `$patch`, `$retainKeys`,
    `$setElementOrder/`, `$deleteFromPrimitiveList/` are honoured)."""
    return _smp_map(original if isinstance(original, dict) else {}, patch, service)


def _smp_map(original: dict[str, Any], patch: dict[str, Any], service: bool) -> Any:
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch must be a JSON object")
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result = copy.deepcopy(original)
    orders: dict[str, list[Any]] = {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [x for x in result[field] if x not in value]
            continue
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(value, dict):
            merged = _smp_map(current if isinstance(current, dict) else {}, value, service)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _smp_list(key, current if isinstance(current, list) else [], value, service)
        else:
            result[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            before = original.get(field)
            server = before if isinstance(before, list) else []
            result[field] = _normalize_order(result[field], order, server, _ident(_key_for(field, service)))
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _smp_list(field: str, original: list[Any], patch: list[Any], service: bool) -> list[Any]:
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    if field in MERGE_SETS:
        merged: list[Any] = []
        for item in [*original, *patch]:
            if item not in merged:
                merged.append(item)
        return _normalize_order(merged, patch, original, lambda x: x)
    key = _key_for(field, service)
    if key is None or not all(isinstance(x, dict) for x in patch):
        return copy.deepcopy(patch)
    result = copy.deepcopy(original)
    kept: list[Any] = []  # the patch without its `$patch: delete` items: the order it asks for
    for item in patch:
        ident = item.get(key)
        index = next((i for i, x in enumerate(result) if isinstance(x, dict) and x.get(key) == ident), None)
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        kept.append(item)
        if index is None:
            result.append({k: copy.deepcopy(v) for k, v in item.items() if k != "$patch"})
        else:
            merged = _smp_map(result[index], item, service)
            result[index] = merged
    return _normalize_order(result, kept, original, _ident(key))


def _ident(key: str | None) -> Any:
    def ident(x: Any) -> Any:
        return x.get(key) if key and isinstance(x, dict) else x

    return ident


def _normalize_order(merged: list[Any], order: list[Any], original: list[Any], ident: Any) -> list[Any]:
    """The order kube-apiserver gives a merged list (strategicpatch's normalizeElementOrder): the items
    named in `order` (the patch, or its `$setElementOrder`) in that order, merged with the items only
    the server had in their `original` order; where an item of the patch is new to the server, the
    patch's item goes first."""
    wanted = [ident(o) for o in order]
    server = [ident(o) for o in original]
    from_patch = sorted((x for x in merged if ident(x) in wanted), key=lambda x: wanted.index(ident(x)))
    server_only = sorted(
        (x for x in merged if ident(x) not in wanted),
        key=lambda x: server.index(ident(x)) if ident(x) in server else len(server),
    )
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(from_patch):
        if j >= len(from_patch):
            out.append(server_only[i])
            i += 1
        elif i >= len(server_only):
            out.append(from_patch[j])
            j += 1
        else:
            left, right = ident(server_only[i]), ident(from_patch[j])
            if left in server and right in server and server.index(left) < server.index(right):
                out.append(server_only[i])
                i += 1
            else:
                out.append(from_patch[j])
                j += 1
    return out
