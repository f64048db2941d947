"""kopf registrations, and nothing else: every decision is the core's, every effect the reconciler's.

``register(registry, config)`` adds to a kopf registry:

- ``on.login``: kopf's own login through the ``kubernetes`` client (in-cluster, else KUBECONFIG);
- ``on.startup``: kopf settings (standalone: leader election is our Lease, not kopf peering; kopf
  posts no Kubernetes events; bounded watch timeouts), then the adapters, built once into ``memo``,
  the HTTP endpoint, the election thread and the ``Ticker``;
- ``on.cleanup``: stop them (the Lease is released so another replica takes over at once);
- ``index`` of MetricTemplates by ``(namespace, name)``, read by the reconciler (no API call per check);
- ``on.event`` on Canaries: tells the ``Ticker`` which Canaries exist; it runs one reconcile tick per
  Canary every ``--tick`` on every replica, and the reconciler returns at once on a follower. Each
  event also tells the reconciler the Canary changed (``touched``), which ends a Canary's rest
  (``controller.core.resync``) so an edit or a manual control is acted on at the next tick.

A non-leader writes nothing (DESIGN section 8), and kopf is kept to watching so that it writes
nothing either: no timer, daemon or changing handler (``on.create``/``update``/``delete``) is bound to
Canaries, because kopf would then add its finalizer on whichever replica saw a new Canary first and
store its last-handled configuration and progress in the Canary. Serinus's own finalizer is added and
removed by the leader's reconcile tick (``controller.kube.status.FINALIZER``), and deleted Canaries
keep ticking until the core's Terminating flow says ``Finalize`` (kopf would stop a timer there).

Handlers are synchronous (kopf runs them in its thread pool).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from controller.operator.runtime import RunConfig, Runtime, build_runtime
from controller.operator.ticker import Ticker

GROUP, VERSION = "serinus.dev", "v1alpha1"

log = logging.getLogger("serinus.handlers")


def ticking(runtime: Runtime) -> Ticker:
    """The ``Ticker`` of ``runtime``'s Canaries: one reconcile tick each per ``--tick``."""
    reconciler = runtime.reconciler

    def tick(namespace: str, name: str) -> bool:
        result = reconciler.tick(namespace, name)
        if result.finalized:
            reconciler.forget(namespace, name)
        return result.outcome != "absent"

    return Ticker(tick, runtime.config.tick)


def register(registry: kopf.OperatorRegistry, config: RunConfig) -> None:
    """Register the operator's handlers with ``config`` (the tick interval is ``config.tick``)."""

    @kopf.on.login(id="login", registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        """Log in as the ``kubernetes`` client would (in-cluster, else KUBECONFIG)."""
        info: kopf.ConnectionInfo | None = kopf.login_via_client(**kwargs)
        return info

    @kopf.on.startup(id="startup", registry=registry)
    def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
        """Configure kopf, build the adapters once, start the HTTP endpoint, leader election, ticks."""
        settings.peering.standalone = True
        settings.posting.enabled = False  # Serinus records its own events, on the leader only
        # No cluster-wide listing of Namespaces and CRDs: a namespaced install has no right to it (the
        # real API server answers 403), and Serinus watches exact namespaces and its own CRD only.
        settings.scanning.disabled = True
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.connect_timeout = 10
        runtime = build_runtime(config)
        memo["runtime"] = runtime
        memo["ticker"] = ticking(runtime)
        runtime.start()
        memo["ticker"].start()

    @kopf.on.cleanup(id="cleanup", registry=registry)
    def cleanup(memo: Any, **_: Any) -> None:
        """Stop the ticks, release the Lease and stop the HTTP endpoint."""
        ticker: Ticker | None = memo.get("ticker")
        if ticker is not None:
            ticker.stop()
        runtime: Runtime | None = memo.get("runtime")
        if runtime is not None:
            runtime.stop()

    @kopf.index(GROUP, VERSION, "metrictemplates", id="metric_templates", registry=registry)
    def metric_templates(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
        """MetricTemplates by ``(namespace, name)``."""
        return {(namespace, name): {"metadata": dict(body.metadata), "spec": dict(body.spec)}}

    @kopf.on.event(GROUP, VERSION, "canaries", id="canaries", registry=registry)
    def canary_seen(event: kopf.RawEvent, namespace: str | None, name: str, memo: Any, **kwargs: Any) -> None:
        """Track (and wake) a Canary listed, added or modified; stop ticking a deleted one. Writes nothing."""
        runtime: Runtime = memo["runtime"]
        runtime.templates.index = kwargs.get("metric_templates")
        ticker: Ticker = memo["ticker"]
        namespace = namespace or "default"
        if event.get("type") == "DELETED":
            ticker.untrack(namespace, name)
            runtime.reconciler.forget(namespace, name)
        else:
            runtime.reconciler.touched(namespace, name)
            ticker.track(namespace, name)
