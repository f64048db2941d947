"""The verbs of the Kubernetes API on the in-memory store: what the real API server's generic
registry does between decoding a request and encoding its answer."""

from __future__ import annotations

import base64
import copy
import importlib
import json
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from sandbox.apiserver import kinds, patches
from sandbox.apiserver.errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    invalid,
    not_found,
    unsupported_media,
)
from sandbox.apiserver.resources import Registry, ResourceType
from sandbox.apiserver.selectors import label_predicate, match_string
from sandbox.apiserver.store import Store

try:  # CRD structural-schema support lives in its own module.
    crd_schema: Any = importlib.import_module("sandbox.apiserver.schema")
except ImportError:  # pragma: no cover - only while that module is absent
    crd_schema = None

CRD_GROUP = "apiextensions.k8s.io"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    """The current time as Kubernetes writes timestamps."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _without(obj: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys}


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal apart from resourceVersion (a write that changes nothing is not persisted)."""

    def norm(o: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(o)
        out.get("metadata", {}).pop("resourceVersion", None)
        out.get("metadata", {}).pop("managedFields", None)
        return out

    return norm(a) == norm(b)


class Api:
    """create/get/list/replace/patch/delete with the API server's semantics."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.ips = kinds.ClusterIPs()
        ns_type = self.type("", "v1", "namespaces")
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create(ns_type, None, {"metadata": {"name": name}})

    # --- lookups ---------------------------------------------------------------------------

    def type(self, group: str, version: str, plural: str) -> ResourceType:
        """The served type or 404 as the server answers for an unknown resource."""
        rt = self.registry.lookup(group, version, plural)
        if rt is None:
            raise ApiError(404, "the server could not find the requested resource", details={})
        return rt

    def present(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """The stored object as seen through `rt` (apiVersion of the requested version)."""
        out = kinds.event_from_core(obj) if rt.group == "events.k8s.io" else copy.deepcopy(obj)
        return {
            "apiVersion": rt.api_version,
            "kind": rt.kind,
            **{k: v for k, v in out.items() if k not in ("apiVersion", "kind")},
        }

    def _load(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self.store.get(rt.store_key, namespace or "", name)
        if obj is None:
            raise not_found(rt.plural, rt.group, name)
        return obj

    def _check_namespace(self, rt: ResourceType, namespace: str | None, name: str) -> None:
        if not rt.namespaced:
            return
        if not namespace:
            raise bad_request("the server could not find the requested resource (namespace required)")
        ns = self.store.get_view(("", "namespaces"), "", namespace)
        if ns is None:
            raise not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                f'{rt.plural} "{name}" is forbidden: unable to create new content in namespace '
                f"{namespace} because it is being terminated",
                reason="Forbidden",
                details={
                    "name": name,
                    "kind": rt.plural,
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {namespace} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                },
            )

    # --- create ----------------------------------------------------------------------------

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Any,
        dry_run: bool = False,
        field_validation: str = "Warn",
    ) -> dict[str, Any]:
        """POST: 201 with the stored object, 409 AlreadyExists, 422 Invalid."""
        obj = self._ingest(rt, body)
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace or meta.get("namespace")
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + "".join(
                    secrets.choice(_GENERATE_CHARS) for _ in range(5)
                )
            else:
                raise invalid(
                    rt.kind,
                    rt.group,
                    "",
                    [
                        {
                            "reason": "FieldValueRequired",
                            "field": "metadata.name",
                            "message": "Required value: name or generateName is required",
                        }
                    ],
                )
        name = meta["name"]
        causes = kinds.name_errors(rt, name)
        if causes:
            raise invalid(rt.kind, rt.group, name, causes)
        self._check_namespace(rt, meta.get("namespace"), name)
        if self.store.get_view(rt.store_key, meta.get("namespace") or "", name) is not None:
            raise already_exists(rt.plural, rt.group, name)
        for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if rt.generation:
            meta["generation"] = 1
        if rt.kind == "Namespace" and not rt.group:
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        kinds.on_create(rt, obj, self.ips)
        obj = self._admit_custom(rt, obj, None, field_validation)
        self._validate_crd(rt, obj)
        kinds.validate(rt, obj)
        if rt.group == CRD_GROUP and rt.kind == "CustomResourceDefinition":
            kinds.accept_crd(obj, now())
        if dry_run:
            return self.present(rt, obj)
        stored = self.store.write(rt.store_key, obj, None)
        if rt.group == CRD_GROUP and rt.kind == "CustomResourceDefinition":
            self.registry.register_crd(stored)
        return self.present(rt, stored)

    def _ingest(self, rt: ResourceType, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request(
                f"the body of the request must be a {rt.kind} object, not {type(body).__name__}"
            )
        obj = copy.deepcopy(body)
        if obj.get("kind") and obj["kind"] != rt.kind:
            raise bad_request(
                f"the kind of the provided object ({obj['kind']}) does not match the resource "
                f"{rt.plural} ({rt.kind})"
            )
        if rt.group == "events.k8s.io":
            obj = kinds.event_to_core(obj)
        obj["apiVersion"] = "v1" if rt.group == "events.k8s.io" else rt.api_version
        obj["kind"] = rt.kind
        if not isinstance(obj.get("metadata", {}), dict):
            raise bad_request("metadata must be an object")
        return obj

    def _admit_custom(
        self,
        rt: ResourceType,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        field_validation: str,
        *,
        status: bool = False,
    ) -> dict[str, Any]:
        """Prune, default and validate a custom object against its CRD's openAPIV3Schema (through the
        status subresource: its status only, then the whole object's CEL rules); with
        `fieldValidation=Strict` unknown fields answer 400 as the API server's strict decoding."""
        if not rt.custom or not rt.schema or crd_schema is None:
            return obj
        name = obj.get("metadata", {}).get("name", "")
        dropped = crd_schema.prune(rt.schema, obj)
        if field_validation == "Strict" and dropped:
            unknown = ", ".join(f'unknown field "{f}"' for f in dropped)
            raise bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                f"strict decoding error: {unknown}"
            )
        crd_schema.apply_defaults(rt.schema, obj)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        validate = crd_schema.validate_status if status else crd_schema.validate
        errors = validate(rt.schema, obj, old)
        if errors:
            body = crd_schema.invalid_status(rt.group, rt.kind, name, errors)
            raise ApiError(422, body["message"], reason="Invalid", details=body["details"], body=body)
        return obj

    def _validate_crd(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        if rt.group != CRD_GROUP or crd_schema is None:
            return
        errors = crd_schema.validate_crd(obj)
        if errors:
            body = crd_schema.invalid_status(rt.group, rt.kind, obj["metadata"].get("name", ""), errors)
            raise ApiError(422, body["message"], reason="Invalid", details=body["details"], body=body)

    # --- read ------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        """GET one object."""
        return self.present(rt, self._load(rt, namespace, name))

    def list_objects(
        self,
        rt: ResourceType,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 0,
        cont: str | None = None,
    ) -> dict[str, Any]:
        """LIST with selectors and `limit`/`continue` paging."""
        match = label_predicate(label_selector, field_selector)
        items = [self.present(rt, o) for o in self.store.select_view(rt.store_key, namespace)]
        items = [o for o in items if match(o)]
        rv = self.store.resource_version
        start = 0
        if cont:
            try:
                token = json.loads(base64.urlsafe_b64decode(cont.encode()))
                rv, after = int(token["rv"]), (token["ns"], token["name"])
            except (ValueError, KeyError, TypeError) as err:
                raise bad_request(f"invalid continue token: {err}") from err
            start = next((i for i, o in enumerate(items) if self._key(o) > after), len(items))
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        page = items[start:]
        if limit and len(page) > limit:
            page = page[:limit]
            last = self._key(page[-1])
            token = {"rv": rv, "ns": last[0], "name": last[1]}
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            meta["remainingItemCount"] = len(items) - start - limit
        return {"kind": rt.kind + "List", "apiVersion": rt.api_version, "metadata": meta, "items": page}

    @staticmethod
    def _key(obj: dict[str, Any]) -> tuple[str, str]:
        return (obj["metadata"].get("namespace") or "", obj["metadata"]["name"])

    # --- update ----------------------------------------------------------------------------

    def replace(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str = "Warn",
    ) -> dict[str, Any]:
        """PUT (on the object or its status): 409 Conflict on a stale resourceVersion."""
        old = self._load(rt, namespace, name)
        new = self._ingest(rt, body)
        meta = new.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != name:
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        rv = meta.get("resourceVersion")
        if rv:
            if rv != old["metadata"]["resourceVersion"]:
                raise conflict(rt.plural, rt.group, name)
        elif rt.custom:
            raise invalid(
                rt.kind,
                rt.group,
                name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "field": "metadata.resourceVersion",
                        "message": "Invalid value: 0x0: must be specified for an update",
                    }
                ],
            )
        return self._commit(
            rt, old, new, subresource=subresource, dry_run=dry_run, field_validation=field_validation
        )

    def _commit(
        self,
        rt: ResourceType,
        old: dict[str, Any],
        new: dict[str, Any],
        *,
        subresource: str | None,
        dry_run: bool = False,
        field_validation: str = "Warn",
    ) -> dict[str, Any]:
        if subresource == "status":
            result = copy.deepcopy(old)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
            result = self._admit_custom(rt, result, old, field_validation, status=True)
        else:
            result = new
            meta = result.setdefault("metadata", {})
            keep = (
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "generateName",
            )
            for key in keep:
                if key in old["metadata"]:
                    meta[key] = old["metadata"][key]
                else:
                    meta.pop(key, None)
            if rt.status_subresource:
                if "status" in old:
                    result["status"] = old["status"]
                else:
                    result.pop("status", None)
            kinds.on_update(rt, result, old)
            result = self._admit_custom(rt, result, old, field_validation)
            self._validate_crd(rt, result)
            kinds.validate(rt, result)
            if rt.generation:
                ignored = ("metadata", "status") if rt.status_subresource else ("metadata",)
                if _without(result, *ignored) != _without(old, *ignored):
                    meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if rt.group == CRD_GROUP and rt.kind == "CustomResourceDefinition" and subresource is None:
            kinds.accept_crd(result, now())
        result["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if _same(result, old) or dry_run:
            return self.present(rt, result)
        if self.finalized(result):
            return self.present(rt, self.store.remove(rt.store_key, result))
        stored = self.store.write(rt.store_key, result, old)
        if rt.group == CRD_GROUP and rt.kind == "CustomResourceDefinition":
            self.registry.register_crd(stored)
        return self.present(rt, stored)

    @staticmethod
    def finalized(obj: dict[str, Any]) -> bool:
        """Deleted and no finalizer left: the object goes away now."""
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return False
        return not (obj.get("kind") == "Namespace" and (obj.get("spec") or {}).get("finalizers"))

    # --- patch -----------------------------------------------------------------------------

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        patch: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str = "Warn",
    ) -> dict[str, Any]:
        """PATCH with merge, JSON or (built-ins only) strategic-merge patches."""
        old = self._load(rt, namespace, name)
        current = self.present(rt, old)
        result = self.apply_patch(rt, current, content_type, patch)
        if not isinstance(result, dict):
            raise bad_request("the patched object is not a JSON object")
        new = self._ingest(rt, result)
        rv = (new.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name)
        new.setdefault("metadata", {})["resourceVersion"] = old["metadata"]["resourceVersion"]
        return self._commit(
            rt, old, new, subresource=subresource, dry_run=dry_run, field_validation=field_validation
        )

    def apply_patch(self, rt: ResourceType, current: dict[str, Any], content_type: str, patch: Any) -> Any:
        """The patched document (no write)."""
        if content_type == MERGE:
            return patches.merge_patch(current, patch)
        if content_type == JSON_PATCH:
            return patches.json_patch(current, patch)
        if content_type == STRATEGIC:
            if rt.custom:  # kube-apiserver's list for custom resources (no strategic merge)
                raise unsupported_media(
                    "the body of the request was in an unknown format - accepted media types include: "
                    f"{JSON_PATCH}, {MERGE}, {APPLY}"
                )
            return patches.strategic_merge(current, patch, service=rt.kind == "Service")
        if content_type == APPLY:
            raise unsupported_media(
                "server-side apply (application/apply-patch+yaml) is not supported by this API emulator; "
                "use client-side apply (kubectl apply without --server-side) or a merge patch"
            )
        raise unsupported_media(
            f'the body of the request was in an unknown format "{content_type}" - accepted media types '
            f"include: {JSON_PATCH}, {MERGE}, {STRATEGIC}"
        )

    # --- scale subresource -----------------------------------------------------------------

    def _scale_paths(self, rt: ResourceType) -> dict[str, str]:
        if rt.custom:
            return rt.scale_paths
        return {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".spec.selector",
        }

    def get_scale(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        """GET .../scale as an autoscaling/v1 Scale."""
        if not rt.scale_subresource:
            raise ApiError(404, "the server could not find the requested resource", details={})
        return self._scale_of(rt, self._load(rt, namespace, name))

    def _scale_of(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        paths = self._scale_paths(rt)
        meta = obj["metadata"]
        selector = _path_get(obj, paths.get("labelSelectorPath", ""))
        if isinstance(selector, dict):
            selector = match_string(selector)
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": _path_get(obj, paths["specReplicasPath"]) or 0},
            "status": {
                "replicas": _path_get(obj, paths.get("statusReplicasPath", "")) or 0,
                **({"selector": selector} if selector else {}),
            },
        }

    def update_scale(
        self, rt: ResourceType, namespace: str | None, name: str, body: Any, content_type: str | None = None
    ) -> dict[str, Any]:
        """PUT or PATCH (when `content_type` is given) .../scale: writes spec.replicas only."""
        current = self.get_scale(rt, namespace, name)
        scale = self.apply_patch(rt, current, content_type, body) if content_type else body
        if not isinstance(scale, dict):
            raise bad_request("the body of the request must be a Scale object")
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != current["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name)
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise invalid(
                "Scale",
                "autoscaling",
                name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "field": "spec.replicas",
                        "message": f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                    }
                ],
            )
        old = self._load(rt, namespace, name)
        new = copy.deepcopy(old)
        _path_set(new, self._scale_paths(rt)["specReplicasPath"], replicas)
        if rt.generation and new != old:
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if new == old:
            return self._scale_of(rt, old)
        stored = self.store.write(rt.store_key, new, old)
        return self._scale_of(rt, stored)

    # --- delete ----------------------------------------------------------------------------

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        options: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """DELETE: removal, or `deletionTimestamp` while finalizers remain."""
        options = options or {}
        old = self._load(rt, namespace, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
            raise conflict(rt.plural, rt.group, name)
        if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name)
        if dry_run:
            return self.present(rt, old)
        policy = options.get("propagationPolicy")
        if options.get("orphanDependents") is True:
            policy = "Orphan"
        obj = copy.deepcopy(old)
        meta = obj["metadata"]
        # as kube-apiserver: the policy becomes a finalizer the garbage collector works off (and removes)
        gc_finalizer = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(policy or "")
        if gc_finalizer:
            finalizers = meta.setdefault("finalizers", [])
            if gc_finalizer not in finalizers:
                finalizers.append(gc_finalizer)
        if rt.kind == "Namespace" and not rt.group:
            obj.setdefault("status", {})["phase"] = "Terminating"
        if rt.group == CRD_GROUP and rt.kind == "CustomResourceDefinition":
            finalizers = meta.setdefault("finalizers", [])
            if "customresourcecleanup.apiextensions.k8s.io" not in finalizers:
                finalizers.append("customresourcecleanup.apiextensions.k8s.io")
        if not meta.get("finalizers") and not self._namespace_pending(obj):
            return self.present(rt, self.store.remove(rt.store_key, obj))
        if not meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = now()
            meta["deletionGracePeriodSeconds"] = 0
        if _same(obj, old):
            return self.present(rt, old)
        return self.present(rt, self.store.write(rt.store_key, obj, old))

    @staticmethod
    def _namespace_pending(obj: dict[str, Any]) -> bool:
        return obj.get("kind") == "Namespace" and bool((obj.get("spec") or {}).get("finalizers"))

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        options: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """DELETE on a collection: every match is deleted as by DELETE."""
        listed = self.list_objects(
            rt, namespace, label_selector=label_selector, field_selector=field_selector
        )
        deleted = []
        for obj in listed["items"]:
            meta = obj["metadata"]
            deleted.append(self.delete(rt, meta.get("namespace"), meta["name"], options))
        listed["items"] = deleted
        listed["metadata"] = {"resourceVersion": str(self.store.resource_version)}
        return listed

    # --- ownership (used by the garbage collector too) -------------------------------------

    def storage_types(self) -> dict[tuple[str, str], ResourceType]:
        """The type each storage bucket belongs to (its storage version's type where several share it)."""
        types = {t.store_key: t for t in self.registry.all() if t.storage_group is None}
        for t in self.registry.all():
            types.setdefault(t.store_key, t)
        return types

    def all_objects(self) -> list[tuple[ResourceType, dict[str, Any]]]:
        """Every stored object with the (storage) type it belongs to (the stored objects themselves,
        not to be changed)."""
        types = self.storage_types()
        out: list[tuple[ResourceType, dict[str, Any]]] = []
        for bucket in self.store.buckets():
            rt = types.get(bucket)
            if rt is not None:
                out.extend((rt, obj) for obj in self.store.select_view(bucket))
        return out

    def has_dependents(self, uid: str) -> bool:
        """Whether any object names `uid` among its ownerReferences (an index lookup)."""
        return self.store.has_dependents(uid)

    def orphan_dependents(self, uid: str) -> None:
        """Remove ownerReferences to `uid` (propagationPolicy Orphan)."""
        for bucket, obj in self.store.dependents(uid):
            refs = obj["metadata"].get("ownerReferences") or []
            kept = [r for r in refs if r.get("uid") != uid]
            if len(kept) != len(refs):
                new = copy.deepcopy(obj)
                if kept:
                    new["metadata"]["ownerReferences"] = kept
                else:
                    new["metadata"].pop("ownerReferences", None)
                self.store.write(bucket, new, obj)


def _path_get(obj: dict[str, Any], path: str) -> Any:
    if not path:
        return None
    cur: Any = obj
    for part in path.strip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _path_set(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    cur = obj
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value
