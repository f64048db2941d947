"""List-and-watch caches over the real ``kubernetes`` client, as client-go's informers keep them.

An :class:`Informer` lists one resource across all namespaces, then watches from the list's
``resourceVersion``; every ADDED/MODIFIED/DELETED event updates its cache of raw objects (plain dicts)
and calls ``on_change``. A watch that ends (``timeoutSeconds``) resumes from the last version seen; an
error (410 Gone, a dropped connection) re-lists after a short pause. :meth:`Informer.observe` lets the
writer of an object put its own write into the cache at once (client-go's mutation cache), so a
controller acting on its own writes does not wait for the watch to bring them back. A
``field_selector`` narrows both the list and the watch, as a kubelet's ``spec.nodeName=<node>``
informer does (the Node authorizer lets a node list and watch Pods only through that selector).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes

log = logging.getLogger(__name__)

Key = tuple[str, str]
"""``(namespace, name)``; the namespace is ``""`` for cluster-scoped objects."""


@dataclass(frozen=True)
class ResourceKind:
    """Where a resource is listed: ``group`` ``""`` for the core API."""

    group: str
    version: str
    plural: str

    def list_function(self, api: kubernetes.client.ApiClient) -> Callable[..., Any]:
        """The client's list-across-namespaces function for this resource (watchable)."""
        core, apps = kubernetes.client.CoreV1Api(api), kubernetes.client.AppsV1Api(api)
        builtin: dict[tuple[str, str], Callable[..., Any]] = {
            ("apps", "deployments"): apps.list_deployment_for_all_namespaces,
            ("", "pods"): core.list_pod_for_all_namespaces,
            ("", "services"): core.list_service_for_all_namespaces,
        }
        found = builtin.get((self.group, self.plural))
        if found is not None:
            return found
        custom = kubernetes.client.CustomObjectsApi(api)
        return functools.partial(custom.list_cluster_custom_object, self.group, self.version, self.plural)

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


DEPLOYMENTS = ResourceKind("apps", "v1", "deployments")
PODS = ResourceKind("", "v1", "pods")
SERVICES = ResourceKind("", "v1", "services")
HTTPROUTES = ResourceKind("gateway.networking.k8s.io", "v1", "httproutes")
VIRTUALSERVICES = ResourceKind("networking.istio.io", "v1beta1", "virtualservices")
ENDPOINTSLICES = ResourceKind("discovery.k8s.io", "v1", "endpointslices")
TRAFFICSPLITS = ResourceKind("split.smi-spec.io", "v1alpha2", "trafficsplits")


def object_key(obj: Mapping[str, Any]) -> Key:
    """``(namespace, name)`` of a raw object."""
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _resource_version(obj: Mapping[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class Informer:
    """A cache of every object of one kind, kept current by a watch in a daemon thread."""

    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        kind: ResourceKind,
        on_change: Callable[[ResourceKind], None],
        *,
        watch_seconds: int = 30,
        field_selector: str | None = None,
    ) -> None:
        self.api = api
        self.kind = kind
        self.on_change = on_change
        self.watch_seconds = watch_seconds
        self._selection: dict[str, str] = {"field_selector": field_selector} if field_selector else {}
        self._objects: dict[Key, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: kubernetes.watch.Watch | None = None
        self._list_function = kind.list_function(api)

    # -- reading ------------------------------------------------------------------------------------

    def items(self) -> list[dict[str, Any]]:
        """A snapshot of the cached objects (do not mutate them)."""
        with self._lock:
            return list(self._objects.values())

    def get(self, key: Key) -> dict[str, Any] | None:
        """The cached object ``(namespace, name)``, if any."""
        with self._lock:
            return self._objects.get(key)

    def wait_synced(self, timeout: float) -> bool:
        """True once the first list has landed."""
        return self._synced.wait(timeout)

    def observe(self, obj: Mapping[str, Any] | None, *, deleted_key: Key | None = None) -> None:
        """Record this process's own write (an object returned by the server), or a deletion."""
        with self._lock:
            if deleted_key is not None:
                self._objects.pop(deleted_key, None)
            if obj is not None:
                key = object_key(obj)
                current = self._objects.get(key)
                if current is None or _resource_version(current) <= _resource_version(obj):
                    self._objects[key] = dict(obj)

    # -- running ------------------------------------------------------------------------------------

    def start(self) -> Informer:
        """List, then watch in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (the current watch request ends within its timeout or at once)."""
        self._stop.set()
        watch = self._watch
        if watch is not None:
            watch.stop()  # type: ignore[no-untyped-call]
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _list(self) -> str:
        response = self._list_function(_preload_content=False, **self._selection)
        body = json.loads(response.data)
        objects = {object_key(o): o for o in body.get("items") or []}
        with self._lock:
            self._objects = objects
        self._synced.set()
        self.on_change(self.kind)
        return str(body.get("metadata", {}).get("resourceVersion") or "")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                version = self._list()
                while not self._stop.is_set():
                    version = self._watch_once(version)
            except Exception as exc:  # any failure: re-list, as an informer does
                if self._stop.is_set():
                    return
                log.debug("watch of %s ended (%s); re-listing", self.kind, exc)
                self._stop.wait(0.3)

    def _watch_once(self, version: str) -> str:
        watch = kubernetes.watch.Watch()  # type: ignore[no-untyped-call]
        self._watch = watch
        stream = watch.stream(  # type: ignore[no-untyped-call]
            self._list_function,
            resource_version=version,
            timeout_seconds=self.watch_seconds,
            allow_watch_bookmarks=True,
            deserialize=False,  # events keep plain dicts under "object"
            **self._selection,
        )
        for event in stream:
            if self._stop.is_set():
                watch.stop()  # type: ignore[no-untyped-call]
                break
            kind, obj = event.get("type"), event.get("object")
            if not isinstance(obj, dict):
                continue
            if kind == "ERROR":
                raise RuntimeError(f"watch error: {obj.get('message')} (code {obj.get('code')})")
            new_version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            version = new_version
            if kind == "BOOKMARK":
                continue
            key = object_key(obj)
            with self._lock:
                if kind == "DELETED":
                    self._objects.pop(key, None)
                else:
                    current = self._objects.get(key)
                    if current is None or _resource_version(current) <= _resource_version(obj):
                        self._objects[key] = obj
            self.on_change(self.kind)
        return version
