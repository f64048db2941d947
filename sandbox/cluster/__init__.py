"""The cluster stand-in: controllers that watch the API emulator through the real ``kubernetes`` client.

They talk HTTP to the emulator exactly as the real controllers talk to a cluster (list, watch, create,
patch the ``status`` subresource), never reaching into the emulator's memory:

- :class:`~sandbox.cluster.deployments.DeploymentController`: the Deployment controller and the kubelet
  (Deployments -> local processes through :class:`~sandbox.workloads.WorkloadRunner` -> Pods and status);
- :class:`~sandbox.cluster.network.NetworkController`: the Endpoints controller and the mesh's control
  plane (Services + Pods -> Endpoints; HTTPRoute / VirtualService / TrafficSplit -> Envoy), plus the
  Prometheus file-based discovery of the app pods.

:class:`ClusterControllers` wires both to one set of :class:`~sandbox.cluster.informer.Informer` caches.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import kubernetes

from sandbox.cluster.deployments import DeploymentController
from sandbox.cluster.informer import (
    DEPLOYMENTS,
    ENDPOINTSLICES,
    HTTPROUTES,
    PODS,
    SERVICES,
    TRAFFICSPLITS,
    VIRTUALSERVICES,
    Informer,
    ResourceKind,
)
from sandbox.cluster.network import NetworkController
from sandbox.mesh import EnvoyMesh
from sandbox.workloads import WorkloadRunner

ROUTE_KINDS = (HTTPROUTES, VIRTUALSERVICES, TRAFFICSPLITS)


class ClusterControllers:
    """Informers plus the two controllers; :meth:`start` returns once every cache has synced.

    With ``runner=None`` (the real control plane, whose controller manager and node run the workloads
    and publish EndpointSlices) only the network controller runs, reading endpoints from EndpointSlices.
    """

    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        runner: WorkloadRunner | None,
        mesh: EnvoyMesh,
        targets_file: Path,
        *,
        on_processes: Callable[[dict[str, list[int]]], None] = lambda _: None,
        interval: float = 0.25,
    ) -> None:
        self.informers: dict[ResourceKind, Informer] = {}

        def changed(kind: ResourceKind) -> None:
            if kind == DEPLOYMENTS and self.deployments is not None:
                self.deployments.poke()
            else:
                self.network.poke()

        workloads = DEPLOYMENTS if runner is not None else ENDPOINTSLICES
        for kind in (workloads, PODS, SERVICES, *ROUTE_KINDS):
            self.informers[kind] = Informer(api, kind, changed)
        self.network = NetworkController(
            api,
            mesh,
            self.informers[PODS],
            self.informers[SERVICES],
            [self.informers[k] for k in ROUTE_KINDS],
            targets_file,
            slices=self.informers[ENDPOINTSLICES] if runner is None else None,
        )
        self.deployments: DeploymentController | None = None
        if runner is not None:
            self.deployments = DeploymentController(
                api,
                runner,
                self.informers[DEPLOYMENTS],
                self.informers[PODS],
                interval=interval,
                on_pods_written=self.network.poke,
                on_processes=on_processes,
            )

    def start(self, timeout: float = 15.0) -> ClusterControllers:
        """Start the informers, wait for their first lists, then start the controllers."""
        for informer in self.informers.values():
            informer.start()
        for informer in self.informers.values():
            if not informer.wait_synced(timeout):
                raise TimeoutError(f"the {informer.kind} cache did not sync within {timeout}s")
        self.network.start()
        if self.deployments is not None:
            self.deployments.start()
        return self

    def stop(self) -> None:
        """Stop the controllers, then the informers."""
        if self.deployments is not None:
            self.deployments.stop()
        self.network.stop()
        for informer in self.informers.values():
            informer.stop()


__all__ = ["ClusterControllers", "DeploymentController", "Informer", "NetworkController", "ResourceKind"]
