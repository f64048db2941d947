"""kopf registrations, and nothing else: every decision is the core's, every effect the reconciler's.

``register(registry, config)`` adds to a kopf registry:

- ``on.login``: kopf's own login through the ``kubernetes`` client (in-cluster, else KUBECONFIG);
- ``on.startup``: kopf settings (standalone: leader election is our Lease, not kopf peering; kopf's
  own Kubernetes events only for errors; bounded watch timeouts; our finalizer name; progress kept
  in annotations, which a CRD schema never prunes), then the adapters, built once into ``memo``, the
  HTTP endpoint and the election thread;
- ``on.cleanup``: stop them (the Lease is released so another replica takes over at once);
- ``index`` of MetricTemplates by ``(namespace, name)``, read by the reconciler (no API call per check);
- ``timer`` on Canaries every ``--tick``: one reconcile tick, on the leader only (the reconciler
  returns at once on a follower, which writes nothing);
- kopf's last-handled configuration (its diff-base) is stored by the leader only: every replica sees
  the same spec edit, and a follower must not write it (kopf's finalizer is still added by whichever
  replica first sees a new Canary: handlers filtered by leadership would make a follower remove it);
- ``on.delete`` behind kopf's finalizer: ticks until the core's Terminating flow finalizes; a
  follower waits for the leader to finish instead.

Handlers are synchronous (kopf runs them in its thread pool).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import kopf

from controller.operator.runtime import RunConfig, Runtime, build_runtime

GROUP, VERSION = "serinus.dev", "v1alpha1"
FINALIZER = "serinus.dev/finalizer"
DELETE_BUDGET_SECONDS = 120.0

log = logging.getLogger("serinus.handlers")


class LeaderDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's last-handled configuration in annotations, written by the leader only: every replica
    sees the same spec edit, and a follower writes nothing."""

    def __init__(self, leading: Callable[[], bool], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._leading = leading

    def store(self, *, body: Any, patch: Any, essence: Any) -> None:
        """Store on the leader; a follower's copy of kopf keeps nothing."""
        if self._leading():
            super().store(body=body, patch=patch, essence=essence)


def register(registry: kopf.OperatorRegistry, config: RunConfig) -> None:
    """Register the operator's handlers with ``config`` (the timer interval is ``config.tick``)."""

    @kopf.on.login(id="login", registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        """Log in as the ``kubernetes`` client would (in-cluster, else KUBECONFIG)."""
        info: kopf.ConnectionInfo | None = kopf.login_via_client(**kwargs)
        return info

    @kopf.on.startup(id="startup", registry=registry)
    def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
        """Configure kopf, build the adapters once, start the HTTP endpoint and leader election."""
        settings.peering.standalone = True
        settings.posting.level = logging.ERROR
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.connect_timeout = 10
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="serinus.dev")
        runtime = build_runtime(config)
        settings.persistence.diffbase_storage = LeaderDiffBaseStorage(
            runtime.reconciler.ports.leadership.is_leader, prefix="serinus.dev",
            key="last-handled-configuration")
        memo["runtime"] = runtime
        runtime.start()

    @kopf.on.cleanup(id="cleanup", registry=registry)
    def cleanup(memo: Any, **_: Any) -> None:
        """Release the Lease and stop the HTTP endpoint."""
        runtime: Runtime | None = memo.get("runtime")
        if runtime is not None:
            runtime.stop()

    @kopf.index(GROUP, VERSION, "metrictemplates", id="metric_templates", registry=registry)
    def metric_templates(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
        """MetricTemplates by ``(namespace, name)``."""
        return {(namespace, name): {"metadata": dict(body.metadata), "spec": dict(body.spec)}}

    @kopf.timer(GROUP, VERSION, "canaries", id="tick", interval=config.tick, registry=registry)
    def tick(namespace: str | None, name: str, memo: Any, **kwargs: Any) -> None:
        """One reconcile tick (the reconciler writes nothing on a follower)."""
        runtime: Runtime = memo["runtime"]
        runtime.templates.index = kwargs.get("metric_templates")
        namespace = namespace or "default"
        try:
            runtime.reconciler.tick(namespace, name)
        except Exception as exc:  # the API server is unreachable or similar: log, try at the next tick
            log.warning("tick failed: %s", exc, extra={"canary": f"{namespace}/{name}", "error": str(exc)})

    @kopf.on.delete(GROUP, VERSION, "canaries", id="deleted", registry=registry)
    def deleted(namespace: str | None, name: str, memo: Any, **kwargs: Any) -> None:
        """Run the core's Terminating flow to ``Finalize``; then kopf removes its finalizer."""
        runtime: Runtime = memo["runtime"]
        runtime.templates.index = kwargs.get("metric_templates")
        namespace = namespace or "default"
        reconciler = runtime.reconciler
        deadline = time.monotonic() + DELETE_BUDGET_SECONDS
        while True:
            if not reconciler.ports.leadership.is_leader():
                if reconciler.ports.canaries.read(namespace, name) is None:
                    return  # the leader finished
            else:
                try:
                    result = reconciler.tick(namespace, name)
                except Exception as exc:
                    log.warning("deletion tick failed: %s", exc, extra={"canary": f"{namespace}/{name}"})
                else:
                    if result.finalized or result.outcome == "absent":
                        reconciler.forget(namespace, name)
                        return
                if time.monotonic() > deadline:
                    raise kopf.TemporaryError(f"Canary {namespace}/{name} is not finalized yet",
                                              delay=config.tick)
            time.sleep(config.tick)
