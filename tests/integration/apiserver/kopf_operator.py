"""A small kopf operator used to prove kopf runs unchanged against the API emulator and the real
kube-apiserver.

Widgets (test.serinus.dev/v1) get a status on creation and on spec.size updates, a timer counts
ticks in status, and deletion (behind kopf's finalizer) leaves a ConfigMap as evidence. The
kubeconfig comes from $SERINUS_TEST_KUBECONFIG (read by the login handler below, so it works in a
subprocess and in-process with KopfRunner alike): its server, token, CA and context namespace."""

from __future__ import annotations

import os
from typing import Any

import kopf
import kubernetes
import yaml

GROUP = "test.serinus.dev"
FINALIZER = "test.serinus.dev/kopf-finalizer"


def _kubeconfig() -> str:
    return os.environ["SERINUS_TEST_KUBECONFIG"]


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Short intervals keep the tests fast; peering is off (standalone)."""
    settings.peering.standalone = True
    settings.persistence.finalizer = FINALIZER
    settings.watching.server_timeout = 30
    settings.queueing.idle_timeout = 0.2


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    """Connect with the server, token and CA of the test kubeconfig."""
    with open(_kubeconfig()) as handle:
        config = yaml.safe_load(handle)
    cluster = config["clusters"][0]["cluster"]
    return kopf.ConnectionInfo(
        server=cluster["server"],
        token=config["users"][0]["user"]["token"],
        ca_path=cluster.get("certificate-authority"),
        default_namespace=config["contexts"][0]["context"].get("namespace", "default"),
    )


@kopf.on.create(GROUP, "v1", "widgets")
def created(spec: kopf.Spec, body: kopf.Body, patch: kopf.Patch, **_: Any) -> dict[str, Any]:
    """Mark the widget Created and post an Event; the return value lands in status.created."""
    patch.status["phase"] = "Created"
    kopf.info(body, reason="WidgetCreated", message=f"size {spec['size']}")
    return {"size": spec["size"]}


@kopf.on.update(GROUP, "v1", "widgets", field="spec.size")
def resized(new: Any, patch: kopf.Patch, **_: Any) -> None:
    """Mirror a new size into status.weight."""
    patch.status["phase"] = "Updated"
    patch.status["weight"] = new


@kopf.timer(GROUP, "v1", "widgets", interval=0.3)
def tick(status: kopf.Status, patch: kopf.Patch, **_: Any) -> None:
    """Count timer ticks in status.ticks."""
    patch.status["ticks"] = int(status.get("ticks", 0)) + 1


@kopf.on.delete(GROUP, "v1", "widgets")
def deleted(name: str, namespace: str | None, **_: Any) -> None:
    """Leave a ConfigMap behind so the test can see the delete handler ran."""
    load: Any = kubernetes.config.new_client_from_config  # untyped in the client
    with load(config_file=_kubeconfig()) as api:
        core: Any = kubernetes.client.CoreV1Api(api)
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": f"deleted-{name}"}, "data": {"widget": name}}
        )
