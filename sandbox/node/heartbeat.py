"""Keeping the Node alive: register it, renew its Lease every ~10 s, refresh its status periodically.

:meth:`NodeHeartbeat.register` creates the Node (status included) or, if it exists from an earlier
run, patches its status, then makes sure its Lease exists; it raises when the API refuses, so a node
that cannot register fails at start rather than silently. The daemon thread then renews the Lease
every ``lease_seconds`` (the signal kube-controller-manager's node lifecycle controller watches) and
patches the Node's status every ``status_seconds`` with fresh ``lastHeartbeatTime``s, as a kubelet's
``nodeStatusReportFrequency`` does; a failed renewal is retried after a second. :func:`host_info`
reads the host facts a kubelet reports.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from sandbox.cluster.rest import MERGE_PATCH, RawApi, collection_path
from sandbox.node.registration import (
    LEASE_NAMESPACE,
    Capacity,
    NodeInfo,
    architecture,
    lease_manifest,
    lease_renewal,
    node_manifest,
    node_status,
)
from sandbox.node.status import iso

log = logging.getLogger(__name__)

STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
_RETRY_SECONDS = 1.0


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.system()


def host_info() -> NodeInfo:
    """This machine's facts: machine and boot IDs, kernel, OS image and architecture."""
    machine_id = _read("/etc/machine-id") or uuid.uuid5(uuid.NAMESPACE_DNS, platform.node()).hex
    return NodeInfo(
        machine_id=machine_id,
        boot_id=_read("/proc/sys/kernel/random/boot_id") or machine_id,
        kernel_version=platform.release(),
        os_image=_os_image(),
        architecture=architecture(platform.machine()),
    )


class NodeHeartbeat:
    """Registers one Node and keeps its Lease and Ready condition fresh from a daemon thread."""

    def __init__(
        self,
        rest: RawApi,
        name: str,
        address: str,
        *,
        info: NodeInfo | None = None,
        capacity: Capacity | None = None,
        lease_seconds: float = 10.0,
        status_seconds: float = 60.0,
    ) -> None:
        self.rest = rest
        self.name = name
        self.address = address
        self.info = info or host_info()
        self.capacity = capacity or Capacity()
        self.lease_seconds = lease_seconds
        self.status_seconds = status_seconds
        self.node_uid: str | None = None
        self.lease_renewals = 0
        self._conditions: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def _node_path(self) -> str:
        return f"{collection_path('', 'v1', 'nodes')}/{self.name}"

    @property
    def _lease_path(self) -> str:
        return f"{collection_path('coordination.k8s.io', 'v1', 'leases', LEASE_NAMESPACE)}/{self.name}"

    # -- registration -------------------------------------------------------------------------------

    def register(self) -> NodeHeartbeat:
        """Create (or refresh) the Node and its Lease; ApiException if the API refuses."""
        now_iso = iso(time.time())
        try:
            node = self.rest.create(
                collection_path("", "v1", "nodes"),
                node_manifest(self.name, self.address, self.info, self.capacity, now_iso=now_iso),
            )
            log.info("registered Node %s", self.name)
        except ApiException as exc:
            if exc.status != 409:
                raise
            node = self.rest.request("GET", self._node_path)
            self._conditions = list((node.get("status") or {}).get("conditions") or [])
            node = self.refresh_status()
        self.node_uid = str((node.get("metadata") or {}).get("uid") or "") or None
        self._conditions = list((node.get("status") or {}).get("conditions") or [])
        self.renew_lease()
        return self

    def wait_schedulable(self, timeout: float) -> bool:
        """Wait until the Node carries no ``node.kubernetes.io/*`` taint; False if one is left at ``timeout``.

        The API server taints every new Node ``not-ready:NoSchedule`` (TaintNodesByCondition) and the
        node lifecycle controller lifts it once it sees Ready, so Pods created before that wait in
        the scheduler's back-off; a node that waits here is schedulable when its start returns."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                node = self.rest.request("GET", self._node_path)
            except (ApiException, OSError):
                node = {}
            taints = (node.get("spec") or {}).get("taints") or []
            if node and not [t for t in taints if str(t.get("key", "")).startswith("node.kubernetes.io/")]:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def refresh_status(self) -> dict[str, Any]:
        """Patch the Node's status with fresh heartbeats; the Node as written."""
        status = node_status(
            self.name,
            self.address,
            self.info,
            self.capacity,
            now_iso=iso(time.time()),
            previous=self._conditions,
        )
        node = self.rest.request(
            "PATCH", f"{self._node_path}/status", {"status": status}, content_type=STRATEGIC_MERGE_PATCH
        )
        self._conditions = list((node.get("status") or {}).get("conditions") or [])
        return node

    def renew_lease(self) -> None:
        """Renew the Lease, creating it if it is missing."""
        try:
            self.rest.request("PATCH", self._lease_path, lease_renewal(self.name, time.time()),
                              content_type=MERGE_PATCH)  # fmt: skip
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.rest.create(
                collection_path("coordination.k8s.io", "v1", "leases", LEASE_NAMESPACE),
                lease_manifest(self.name, self.node_uid, time.time()),
            )
        self.lease_renewals += 1

    # -- the loop -----------------------------------------------------------------------------------

    def start(self) -> NodeHeartbeat:
        """Renew and refresh from a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name=f"node-heartbeat-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing (the Node is left in place, as a stopped kubelet leaves it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)

    def _run(self) -> None:
        next_lease = time.monotonic() + self.lease_seconds
        next_status = time.monotonic() + self.status_seconds
        while not self._stop.wait(max(0.0, min(next_lease, next_status) - time.monotonic())):
            now = time.monotonic()
            if now >= next_lease:
                next_lease = now + self._attempt("renewing the Lease", self.renew_lease, self.lease_seconds)
            if now >= next_status:
                next_status = now + self._attempt(
                    "refreshing the status", self.refresh_status, self.status_seconds
                )

    def _attempt(self, what: str, action: Callable[[], object], period: float) -> float:
        """Run one write; the delay until the next (a second after a failure)."""
        try:
            action()
        except (ApiException, OSError) as exc:
            log.warning("Node %s: %s failed (%s); retrying in %gs", self.name, what, exc, _RETRY_SECONDS)
            return _RETRY_SECONDS
        except Exception:
            log.exception("Node %s: %s failed", self.name, what)
            return _RETRY_SECONDS
        return period
