"""The sandbox mesh: the real Envoy, configured from HTTPRoute, VirtualService or TrafficSplit weights.

Pure part: :func:`routes_from_object` turns a route object into the provider-neutral
:class:`VirtualHostRoutes`; :mod:`sandbox.mesh.envoyconfig` turns those and the ready endpoints into
Envoy resources. Imperative part: :class:`EnvoyMesh` runs Envoy with file-based xDS and applies them.

Cluster naming (the contract the built-in Envoy queries of ``analysis`` rely on)
--------------------------------------------------------------------------------
Every Kubernetes Service port is one Envoy cluster named ``<namespace>_<service>_<port>``, e.g.
``shop_podinfo-canary_9898`` and ``shop_podinfo-primary_9898``. Envoy's ``/stats/prometheus`` then
labels upstream request counters ``envoy_cluster_upstream_rq{envoy_cluster_name="shop_podinfo-canary_9898",
envoy_response_code="200"}`` and latency ``envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=...}``,
so a canary's series are selected with ``envoy_cluster_name=~"<namespace>_<target>-canary_[0-9a-zA-Z-]+"``
(the form Flagger's Contour/Gloo queries use). Names contain no dots, so Envoy's tag extraction keeps the
whole name. Endpoints (ready replicas) change without changing a cluster, so counters are continuous.
"""

from sandbox.mesh.envoy import EnvoyMesh, EnvoyNotInstalled, MeshError, find_envoy
from sandbox.mesh.envoyconfig import ROUTE_BUILDERS, route_configuration, routes_from_object
from sandbox.mesh.model import (
    Endpoint,
    EndpointTable,
    MeshConfigError,
    ServicePort,
    VirtualHostRoutes,
    cluster_name,
)

__all__ = [
    "ROUTE_BUILDERS",
    "Endpoint",
    "EndpointTable",
    "EnvoyMesh",
    "EnvoyNotInstalled",
    "MeshConfigError",
    "MeshError",
    "ServicePort",
    "VirtualHostRoutes",
    "cluster_name",
    "find_envoy",
    "route_configuration",
    "routes_from_object",
]
