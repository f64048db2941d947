"""Built-in metrics per traffic provider: ``request-success-rate`` (%) and ``request-duration`` (p99, ms).

Each provider is described by the counter of requests, the matcher that selects failed requests,
the latency histogram, and the label matchers that select the canary's (or the primary's) traffic.
The queries are built from those pieces as templates and rendered through :func:`analysis.template.render`,
the same safe path as user templates. Query shapes:

- success rate: ``100 - (sum(rate(REQS{SEL,FAILED}[i])) or vector(0)) / sum(rate(REQS{SEL}[i])) * 100``.
  Failures default to 0 when no failed series exist, so a canary with no errors scores 100 and one with
  only errors scores 0 (a ``good / total`` ratio would return no data when every request failed).
  No traffic at all gives no data (INCONCLUSIVE), never 0.
- duration: ``histogram_quantile(0.99, sum(rate(BUCKETS{SEL}[i])) by (le))``, scaled to milliseconds.
- requests in the window (for ``minRequests``): ``sum(increase(REQS{SEL}[i]))``.

Selection per provider (``{{ x }}`` are template variables; ``service`` is the apex Service name):

- **envoy** (alias **gatewayapi**; Envoy-based Gateway API implementations and the sandbox): Envoy
  cluster stats ``envoy_cluster_upstream_rq_xx`` (label ``envoy_response_code_class``, failures are
  class ``5``, which includes the 503s Envoy itself returns on upstream resets) and
  ``envoy_cluster_upstream_rq_time_bucket`` (ms). **Cluster naming convention**: the Envoy cluster
  behind each backend Service is named ``<namespace>_<service>-canary_<port>`` for the canary and
  ``<namespace>_<service>-primary_<port>`` for the primary (e.g. ``shop_podinfo-canary_9898``), as
  Contour and similar implementations do; selected with
  ``envoy_cluster_name=~"<namespace>_<service>-canary_[0-9]+"``.
- **istio**: ``istio_requests_total`` / ``istio_request_duration_milliseconds_bucket`` with
  ``reporter="destination"``, ``destination_workload_namespace`` and ``destination_workload``
  (``<target>`` or ``<target>-primary``); failures ``response_code=~"5.."``.
- **linkerd** (alias **smi**): ``response_total`` / ``response_latency_ms_bucket`` with
  ``direction="inbound"``, ``namespace`` and ``deployment``; failures ``classification="failure"``.
- **nginx** (ingress-nginx): ``nginx_ingress_controller_requests`` /
  ``nginx_ingress_controller_request_duration_seconds_bucket`` (seconds, scaled by 1000). Requests the
  canary Ingress routed carry the canary upstream in the ``canary`` label
  (``<namespace>-<service>-canary-<port>``); primary requests have ``canary=""`` and ``service="<service>"``.
  Failures ``status=~"5.."``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from analysis.template import TemplateContext, render

Role = Literal["canary", "primary"]
SUCCESS_RATE = "request-success-rate"
DURATION = "request-duration"
BUILTIN_METRICS = (SUCCESS_RATE, DURATION)


class UnknownMeshProvider(KeyError):
    """No built-in queries exist for a traffic provider name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown provider"


class UnknownBuiltinMetric(KeyError):
    """A metric name is not one of :data:`BUILTIN_METRICS`."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown built-in metric"


@dataclass(frozen=True)
class MeshMetrics:
    """What a traffic provider exports and how to select one workload's traffic in it."""

    requests: str
    failed: str
    duration_buckets: str
    to_milliseconds: float
    canary: str
    primary: str

    def selector(self, role: Role) -> str:
        """The label matchers (template text) selecting ``role``'s traffic."""
        return self.canary if role == "canary" else self.primary


_ENVOY = MeshMetrics(
    requests="envoy_cluster_upstream_rq_xx",
    failed='envoy_response_code_class="5"',
    duration_buckets="envoy_cluster_upstream_rq_time_bucket",
    to_milliseconds=1,
    canary='envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9]+"',
    primary='envoy_cluster_name=~"{{ namespace }}_{{ service }}-primary_[0-9]+"',
)
_ISTIO = MeshMetrics(
    requests="istio_requests_total",
    failed='response_code=~"5.."',
    duration_buckets="istio_request_duration_milliseconds_bucket",
    to_milliseconds=1,
    canary='reporter="destination", destination_workload_namespace="{{ namespace }}", '
    'destination_workload="{{ target }}"',
    primary='reporter="destination", destination_workload_namespace="{{ namespace }}", '
    'destination_workload="{{ target }}-primary"',
)
_LINKERD = MeshMetrics(
    requests="response_total",
    failed='classification="failure"',
    duration_buckets="response_latency_ms_bucket",
    to_milliseconds=1,
    canary='direction="inbound", namespace="{{ namespace }}", deployment="{{ target }}"',
    primary='direction="inbound", namespace="{{ namespace }}", deployment="{{ target }}-primary"',
)
_NGINX = MeshMetrics(
    requests="nginx_ingress_controller_requests",
    failed='status=~"5.."',
    duration_buckets="nginx_ingress_controller_request_duration_seconds_bucket",
    to_milliseconds=1000,
    canary='namespace="{{ namespace }}", canary=~"{{ namespace }}-{{ service }}-canary-[0-9a-zA-Z-]+"',
    primary='namespace="{{ namespace }}", service="{{ service }}", canary=""',
)

MESH_METRICS: dict[str, MeshMetrics] = {
    "envoy": _ENVOY,
    "gatewayapi": _ENVOY,
    "istio": _ISTIO,
    "linkerd": _LINKERD,
    "smi": _LINKERD,
    "nginx": _NGINX,
}


def mesh_metrics(provider: str) -> MeshMetrics:
    """The description of ``provider``; :class:`UnknownMeshProvider` naming the known ones otherwise."""
    found = MESH_METRICS.get(provider)
    if found is None:
        known = ", ".join(sorted(MESH_METRICS))
        raise UnknownMeshProvider(
            f"no built-in metrics for provider {provider!r}; known: {known} "
            "(use a MetricTemplate via templateRef for other providers)"
        )
    return found


def is_builtin(metric: str) -> bool:
    """True for ``request-success-rate`` and ``request-duration``."""
    return metric in BUILTIN_METRICS


def builtin_template(provider: str, metric: str, role: Role = "canary") -> str:
    """The query template of a built-in metric for ``provider`` and ``role`` (not yet rendered)."""
    mesh = mesh_metrics(provider)
    selector = mesh.selector(role)
    window = "[{{ interval }}]"
    if metric == SUCCESS_RATE:
        return (
            f"100 - (sum(rate({mesh.requests}{{{selector}, {mesh.failed}}}{window})) or vector(0))"
            f" / sum(rate({mesh.requests}{{{selector}}}{window})) * 100"
        )
    if metric == DURATION:
        scale = "" if mesh.to_milliseconds == 1 else f" * {mesh.to_milliseconds:g}"
        buckets = f"{mesh.duration_buckets}{{{selector}}}{window}"
        return f"histogram_quantile(0.99, sum(rate({buckets})) by (le)){scale}"
    raise UnknownBuiltinMetric(
        f"{metric!r} is not a built-in metric; built-ins: {', '.join(BUILTIN_METRICS)} (or use a templateRef)"
    )


def requests_template(provider: str, role: Role = "canary") -> str:
    """The template counting ``role``'s requests in the window (``minRequests``)."""
    mesh = mesh_metrics(provider)
    return f"sum(increase({mesh.requests}{{{mesh.selector(role)}}}[{{{{ interval }}}}]))"


def render_builtin(provider: str, metric: str, context: TemplateContext, role: Role = "canary") -> str:
    """A built-in query rendered for ``context`` (validated and escaped like any template)."""
    return render(builtin_template(provider, metric, role), context)


def render_requests(provider: str, context: TemplateContext, role: Role = "canary") -> str:
    """The rendered request-count query for ``minRequests``."""
    return render(requests_template(provider, role), context)


def higher_is_better(metric: str) -> bool:
    """Direction of a built-in metric for relative checks: success rate up, duration down."""
    if not is_builtin(metric):
        raise UnknownBuiltinMetric(f"{metric!r} is not a built-in metric; give the direction explicitly")
    return metric == SUCCESS_RATE
