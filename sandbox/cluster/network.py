"""The Endpoints and EndpointSlice controllers and the mesh's control plane, over Services, Pods and
route objects.

:class:`NetworkController` wakes on any change of Pods, Services, HTTPRoutes, VirtualServices or
TrafficSplits (debounced a little, so a burst of writes is one update) and on a slow timer, then:

1. computes every Service port's ready endpoints from the Pods it selects (on the real control plane,
   reads them from the EndpointSlices kube-controller-manager publishes instead, and skips step 3);
2. applies the route objects and those endpoints to Envoy (:meth:`sandbox.mesh.EnvoyMesh.apply`,
   which returns once Envoy serves them), only when either changed. A route object the mesh cannot
   translate is logged and left out; the others still apply;
3. writes each Service's core/v1 ``Endpoints`` object and its discovery.k8s.io/v1 ``EndpointSlices``
   (one per distinct port set) when they changed, and deletes them with the Service;
4. writes the Prometheus file-based service discovery of the running Pods (labels ``namespace``,
   ``pod``, ``deployment``), so the apps' own ``/metrics`` are scraped.

Gateway attachment: every route object attaches to the sandbox's single Envoy listener, whatever its
``parentRefs`` name; its ``hostnames`` (HTTPRoute), ``hosts`` (VirtualService) or apex Service name
(TrafficSplit) select it by the request's Host header.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from sandbox.cluster.endpoints import endpoint_slices, endpoints_manifest
from sandbox.cluster.informer import Informer, Key, object_key
from sandbox.cluster.passes import PassLoop
from sandbox.cluster.pods import owning_deployment, pod_address, scrape_port
from sandbox.cluster.rest import RawApi, collection_path
from sandbox.mesh import (
    Endpoint,
    EnvoyMesh,
    MeshConfigError,
    MeshError,
    ServicePort,
    VirtualHostRoutes,
    routes_from_object,
    service_endpoints,
)
from sandbox.mesh.slices import slice_endpoints

log = logging.getLogger(__name__)


class NetworkController:
    """Keeps Envoy, Endpoints, EndpointSlices and the Prometheus pod targets in step with the cluster."""

    def __init__(  # noqa: PLR0917 - the controller's collaborators, each named
        self,
        api: kubernetes.client.ApiClient,
        mesh: EnvoyMesh,
        pods: Informer,
        services: Informer,
        routes: Sequence[Informer],
        targets_file: Path,
        *,
        slices: Informer | None = None,
        debounce: float = 0.02,
        resync: float = 2.0,
    ) -> None:
        self.rest = RawApi(api)
        self.mesh = mesh
        self.pods = pods
        self.services = services
        self.routes = list(routes)
        self.targets_file = Path(targets_file)
        self.slices = slices
        """On the real control plane, the EndpointSlices its controller publishes; then this controller
        only reads endpoints and writes no Endpoints or EndpointSlices of its own."""
        self.debounce = debounce
        self.resync = resync
        self._applied: tuple[list[VirtualHostRoutes], dict[ServicePort, list[Endpoint]]] | None = None
        self._endpoints: dict[Key, str] = {}  # Endpoints written, as JSON of what was written
        self._slices: dict[Key, str] = {}  # EndpointSlices written, likewise
        self._targets = ""
        self._route_errors: dict[Key, str] = {}
        self._loop = PassLoop(
            "network-controller", self.reconcile, log, period=resync, settle=debounce, join_timeout=20.0
        )

    def poke(self, *_: object) -> None:
        """Reconcile soon (a watched object changed)."""
        self._loop.wake()

    def start(self) -> NetworkController:
        """Reconcile in a daemon thread until :meth:`stop`."""
        self.targets_file.parent.mkdir(parents=True, exist_ok=True)
        if not self.targets_file.exists():
            self._write_targets("[]")
        self._loop.start()
        return self

    def stop(self) -> None:
        """Stop reconciling."""
        self._loop.stop()

    # -- one pass -----------------------------------------------------------------------------------

    def reconcile(self) -> None:
        """Endpoints, mesh, Endpoints objects and scrape targets from the current caches."""
        pods = self.pods.items()
        services = self.services.items()
        slices = self.slices.items() if self.slices is not None else None
        addresses = [a for a in (pod_address(p) for p in pods) if a is not None] if slices is None else []
        table: dict[ServicePort, list[Endpoint]] = {}
        for service in services:
            try:
                if slices is None:
                    table.update(service_endpoints(service, addresses))
                else:
                    table.update(slice_endpoints(service, slices))
            except MeshConfigError as exc:
                log.warning("%s", exc)
        self._apply_mesh(table)
        if slices is None:
            self._write_endpoints(services, pods)
        self._write_scrape_targets(pods)

    def _apply_mesh(self, table: dict[ServicePort, list[Endpoint]]) -> None:
        vhosts: list[VirtualHostRoutes] = []
        objects = sorted(
            (obj for informer in self.routes for obj in informer.items()),
            key=lambda o: (str(o.get("kind")), *object_key(o)),
        )
        for obj in objects:
            key = object_key(obj)
            try:
                vhosts.append(routes_from_object(obj, table))
            except MeshConfigError as exc:
                if self._route_errors.get(key) != str(exc):
                    log.warning("route %s/%s left out of the mesh: %s", *key, exc)
                    self._route_errors[key] = str(exc)
                continue
            self._route_errors.pop(key, None)
        wanted = (vhosts, {k: sorted(v) for k, v in table.items()})
        if wanted == self._applied:
            return
        try:
            self.mesh.apply(vhosts, table)
        except MeshConfigError as exc:  # e.g. two routes claiming one host
            log.warning("mesh configuration refused: %s", exc)
        except MeshError:
            log.exception("Envoy did not take the configuration")
            return
        self._applied = wanted

    def _write_endpoints(self, services: list[dict[str, Any]], pods: list[dict[str, Any]]) -> None:
        endpoints: dict[Key, dict[str, Any]] = {}
        slices: dict[Key, dict[str, Any]] = {}
        for service in services:
            manifest = endpoints_manifest(service, pods)
            if manifest is not None:
                endpoints[object_key(service)] = manifest
            for piece in endpoint_slices(service, pods) or []:
                slices[object_key(piece)] = piece
        self._sync(("", "v1", "endpoints"), endpoints, self._endpoints)
        self._sync(("discovery.k8s.io", "v1", "endpointslices"), slices, self._slices)

    def _sync(
        self, resource: tuple[str, str, str], wanted: dict[Key, dict[str, Any]], written: dict[Key, str]
    ) -> None:
        """Create or merge-patch each wanted object that changed since written; delete the others."""
        for key, manifest in wanted.items():
            body = json.dumps(manifest, sort_keys=True)
            if written.get(key) == body:
                continue
            namespace, name = key
            path = collection_path(*resource, namespace)
            try:
                try:
                    patch = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
                    self.rest.merge_patch(f"{path}/{name}", patch)
                except ApiException as exc:
                    if exc.status != 404:
                        raise
                    self.rest.create(path, manifest)
            except ApiException as exc:
                log.warning(
                    "writing %s %s/%s: %s %s", manifest["kind"], namespace, name, exc.status, exc.reason
                )
                continue
            written[key] = body
        for key in set(written) - set(wanted):
            namespace, name = key
            try:
                self.rest.delete(f"{collection_path(*resource, namespace)}/{name}")
            except ApiException as exc:
                if exc.status != 404:
                    log.warning(
                        "deleting %s %s/%s: %s %s", resource[2], namespace, name, exc.status, exc.reason
                    )
                    continue
            del written[key]

    def _write_scrape_targets(self, pods: list[dict[str, Any]]) -> None:
        groups = []
        for pod in sorted(pods, key=object_key):
            meta = pod.get("metadata") or {}
            status = pod.get("status") or {}
            main = scrape_port(pod)
            if main is None or status.get("phase") != "Running" or meta.get("deletionTimestamp"):
                continue
            groups.append(
                {
                    "targets": [f"{status.get('podIP')}:{main}"],
                    "labels": {
                        "namespace": str(meta.get("namespace")),
                        "pod": str(meta.get("name")),
                        "deployment": owning_deployment(pod),
                    },
                }
            )
        text = json.dumps(groups, indent=1)
        if text != self._targets:
            self._write_targets(text)

    def _write_targets(self, text: str) -> None:
        tmp = self.targets_file.with_name(f".{self.targets_file.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, self.targets_file)  # Prometheus must never read a half-written file
        self._targets = text
