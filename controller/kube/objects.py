"""The one port every Kubernetes adapter writes through: plain-dict objects by resource.

Adapters (workloads, services, status, events, lease, routers) speak in plain JSON dicts so that a
round trip never drops a field the client's models do not know (mesh CRDs, newer API fields). The
real implementation, `KubeObjects`, uses the `kubernetes` client's `CustomObjectsApi` for every
named API group (apps, networking.k8s.io, coordination.k8s.io, the mesh CRDs, serinus.dev: all plain
REST paths) and the client's generic request path for the few core-group calls, whose paths differ.
Responses are read unparsed (`_preload_content=False`) and decoded as JSON for the same reason.
The in-memory fake is `controller.kube.memory.MemoryObjects`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from kubernetes import client as k8s

Obj = dict[str, Any]

#: (connect, read) seconds for every API call: the client's default is to wait forever.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)


@dataclass(frozen=True)
class Resource:
    """A namespaced Kubernetes resource type: where it lives in the API and what it is called."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        """`apiVersion` as written in objects (`v1` for core, `group/version` otherwise)."""
        return f"{self.group}/{self.version}" if self.group else self.version


SERVICE = Resource("", "v1", "services", "Service")
EVENT = Resource("", "v1", "events", "Event")
DEPLOYMENT = Resource("apps", "v1", "deployments", "Deployment")
INGRESS = Resource("networking.k8s.io", "v1", "ingresses", "Ingress")
LEASE = Resource("coordination.k8s.io", "v1", "leases", "Lease")
CANARY = Resource("serinus.dev", "v1alpha1", "canaries", "Canary")


class ApiError(Exception):
    """An API call failed; `status` is the HTTP status (0 when the server was not reached)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class NotFound(ApiError):
    """404: the object (or its resource type) does not exist."""


class AlreadyExists(ApiError):
    """409 on create: an object with that name exists."""


class Conflict(ApiError):
    """409 on update: the write carried a stale `metadata.resourceVersion`."""


class Invalid(ApiError):
    """422 or 400: the server refused the object (schema validation, immutable field, bad patch)."""


class Objects(Protocol):
    """Read and write namespaced objects as plain dicts."""

    def get(self, res: Resource, namespace: str, name: str) -> Obj | None:
        """The object, or None when it does not exist."""
        ...

    def create(self, res: Resource, namespace: str, body: Mapping[str, Any]) -> Obj:
        """Create; raises `AlreadyExists`."""
        ...

    def replace(self, res: Resource, namespace: str, name: str, body: Mapping[str, Any]) -> Obj:
        """PUT; guarded by `body.metadata.resourceVersion` (raises `Conflict` when stale)."""
        ...

    def replace_status(self, res: Resource, namespace: str, name: str, body: Mapping[str, Any]) -> Obj:
        """PUT to the status subresource; guarded like `replace`."""
        ...

    def merge_patch(self, res: Resource, namespace: str, name: str, patch: Mapping[str, Any]) -> Obj:
        """RFC 7386 merge patch (unguarded: only for fields Serinus alone writes)."""
        ...

    def scale(self, res: Resource, namespace: str, name: str, replicas: int) -> Obj:
        """Set `spec.replicas` through the scale subresource; returns the Scale object."""
        ...


def name_of(obj: Mapping[str, Any]) -> str:
    """`namespace/name` of an object, for messages."""
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


_T = TypeVar("_T")


def _translate(exc: k8s.ApiException, what: str, creating: bool = False) -> ApiError:
    status = int(exc.status or 0)
    detail = _reason(exc)
    message = f"{what}: HTTP {status} {detail}".rstrip()
    if status == 404:
        return NotFound(message, status)
    if status == 409:
        return AlreadyExists(message, status) if creating else Conflict(message, status)
    if status in (400, 422):
        return Invalid(message, status)
    return ApiError(message, status)


def _reason(exc: k8s.ApiException) -> str:
    try:
        body = json.loads(exc.body or "")
    except ValueError:
        return str(exc.reason or "")
    if isinstance(body, dict):
        return str(body.get("message") or body.get("reason") or exc.reason or "")
    return str(exc.reason or "")


class KubeObjects:
    """`Objects` over a real API server through the `kubernetes` client."""

    def __init__(self, api_client: k8s.ApiClient, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self._custom = k8s.CustomObjectsApi(api_client)
        self._core = _CoreV1(api_client)
        self._timeout = timeout

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, creating: bool = False,
              **kwargs: Any) -> Obj:
        try:
            response = fn(*args, _preload_content=False, _request_timeout=self._timeout, **kwargs)
        except k8s.ApiException as exc:
            raise _translate(exc, what, creating) from exc
        decoded = json.loads(response.data or b"{}")
        if not isinstance(decoded, dict):
            raise ApiError(f"{what}: expected a JSON object, got {type(decoded).__name__}")
        return decoded

    def get(self, res: Resource, namespace: str, name: str) -> Obj | None:
        """The object, or None on 404."""
        what = f"get {res.kind} {namespace}/{name}"
        try:
            if res.group:
                return self._call(what, self._custom.get_namespaced_custom_object,
                                  res.group, res.version, namespace, res.plural, name)
            return self._call(what, self._core_fn("read", res), name, namespace)
        except NotFound:
            return None

    def create(self, res: Resource, namespace: str, body: Mapping[str, Any]) -> Obj:
        """POST the object."""
        what = f"create {res.kind} {namespace}/{body.get('metadata', {}).get('name', '')}"
        if res.group:
            return self._call(what, self._custom.create_namespaced_custom_object,
                              res.group, res.version, namespace, res.plural, dict(body), creating=True)
        return self._call(what, self._core_fn("create", res), namespace, self._core_model(res, body),
                          creating=True)

    def replace(self, res: Resource, namespace: str, name: str, body: Mapping[str, Any]) -> Obj:
        """PUT the object (409 -> `Conflict` when its resourceVersion is stale)."""
        what = f"replace {res.kind} {namespace}/{name}"
        if res.group:
            return self._call(what, self._custom.replace_namespaced_custom_object,
                              res.group, res.version, namespace, res.plural, name, dict(body))
        return self._call(what, self._core_fn("replace", res), name, namespace, self._core_model(res, body))

    def replace_status(self, res: Resource, namespace: str, name: str, body: Mapping[str, Any]) -> Obj:
        """PUT the status subresource (409 -> `Conflict`)."""
        if not res.group:
            raise ApiError(f"status writes of core {res.kind} objects are not something Serinus does")
        return self._call(f"replace status of {res.kind} {namespace}/{name}",
                          self._custom.replace_namespaced_custom_object_status,
                          res.group, res.version, namespace, res.plural, name, dict(body))

    def merge_patch(self, res: Resource, namespace: str, name: str, patch: Mapping[str, Any]) -> Obj:
        """Merge patch (the client's default content type for these calls)."""
        what = f"patch {res.kind} {namespace}/{name}"
        ctype = "application/merge-patch+json"
        if res.group:
            return self._call(what, self._custom.patch_namespaced_custom_object,
                              res.group, res.version, namespace, res.plural, name, dict(patch),
                              _content_type=ctype)
        return self._call(what, self._core_fn("patch", res), name, namespace, dict(patch),
                          _content_type=ctype)

    def scale(self, res: Resource, namespace: str, name: str, replicas: int) -> Obj:
        """Merge-patch `spec.replicas` of the scale subresource."""
        return self._call(f"scale {res.kind} {namespace}/{name} to {replicas}",
                          self._custom.patch_namespaced_custom_object_scale,
                          res.group, res.version, namespace, res.plural, name,
                          {"spec": {"replicas": replicas}},
                          _content_type="application/merge-patch+json")

    def _core_fn(self, verb: str, res: Resource) -> Callable[..., Any]:
        if res.plural not in _CORE_PLURALS:
            raise ApiError(f"core resource {res.plural!r} is not one Serinus writes "
                           f"(known: {sorted(_CORE_PLURALS)})")
        return self._core.verb(verb, res.plural)

    @staticmethod
    def _core_model(res: Resource, body: Mapping[str, Any]) -> Any:
        return dict(body)


class _CoreV1:
    """The few ``/api/v1`` calls Serinus makes, through the client's generic request path.

    Why not ``CoreV1Api``: importing it (and the models it names) costs about 20 MiB of resident
    memory, a third of the operator's idle budget, for four verbs on two resources."""

    _PATHS = {
        "read": ("GET", "/api/v1/namespaces/{namespace}/{plural}/{name}"),
        "create": ("POST", "/api/v1/namespaces/{namespace}/{plural}"),
        "replace": ("PUT", "/api/v1/namespaces/{namespace}/{plural}/{name}"),
        "patch": ("PATCH", "/api/v1/namespaces/{namespace}/{plural}/{name}"),
    }

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self._client = api_client

    def verb(self, verb: str, plural: str) -> Callable[..., Any]:
        """A callable shaped like ``CoreV1Api.<verb>_namespaced_<kind>``: ``(name, namespace[, body])``
        for read/replace/patch, ``(namespace, body)`` for create; answers the raw response."""
        method, path = self._PATHS[verb]

        def call(*args: Any, _request_timeout: Any = None, _content_type: str | None = None,
                 _preload_content: bool = False) -> Any:
            if verb == "create":
                namespace, body = args
                params = {"namespace": namespace, "plural": plural}
            else:
                name, namespace, *rest = args
                body = rest[0] if rest else None
                params = {"namespace": namespace, "plural": plural, "name": name}
            headers = {"Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = _content_type or "application/json"
            request = self._client.param_serialize(
                method=method, resource_path=path, path_params=params, header_params=headers,
                body=body, auth_settings=["BearerToken"])
            response: Any = self._client.call_api(*request, _request_timeout=_request_timeout)
            if not 200 <= response.status <= 299:
                response.read()
                raise k8s.ApiException.from_response(http_resp=response, body=None, data=None)
            return response.response

        return call


_CORE_PLURALS = ("services", "events", "secrets")
