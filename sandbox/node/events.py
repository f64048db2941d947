"""The node's Events about its Pods (``Started``, ``Killing``, ``BackOff``, ...), as the kubelet posts them.

:func:`pod_event` is the pure ``v1`` Event body (source ``kubelet`` on this node, the involved object
the Pod, and the container as its ``fieldPath``); :class:`EventRecorder` posts it. Events are a
courtesy for ``kubectl describe pod``: a failed post is logged and forgotten, never retried, and never
stops the node.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any, Literal

from kubernetes.client.exceptions import ApiException

from sandbox.cluster.rest import RawApi, collection_path
from sandbox.node.status import iso

log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]


def pod_event(
    pod: Mapping[str, Any],
    node: str,
    kind: EventType,
    reason: str,
    message: str,
    *,
    now: float,
    container: str | None = None,
) -> dict[str, Any]:
    """A core ``v1`` Event about ``pod`` (optionally one of its containers)."""
    meta = pod.get("metadata") or {}
    namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "")
    involved: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "namespace": namespace,
        "name": name,
        "uid": meta.get("uid"),
    }
    if container is not None:
        involved["fieldPath"] = f"spec.containers{{{container}}}"
    stamp = iso(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": kind,
        "source": {"component": "kubelet", "host": node},
        "reportingComponent": "kubelet",
        "reportingInstance": node,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventRecorder:
    """Posts Events with the node's identity; failures are logged at debug level only."""

    def __init__(self, rest: RawApi, node: str) -> None:
        self.rest = rest
        self.node = node

    def record(
        self,
        pod: Mapping[str, Any],
        kind: EventType,
        reason: str,
        message: str,
        container: str | None = None,
    ) -> None:
        """Post one Event about ``pod``."""
        body = pod_event(pod, self.node, kind, reason, message, now=time.time(), container=container)
        namespace = body["metadata"]["namespace"]
        try:
            self.rest.create(collection_path("", "v1", "events", namespace), body)
        except (ApiException, OSError) as exc:
            log.debug(
                "event %s for %s/%s not posted: %s", reason, namespace, body["involvedObject"]["name"], exc
            )
