"""The process node: registers itself, watches the Pods bound to it, and runs each with a pod worker.

:class:`ProcessNode` wires the pieces: :class:`~sandbox.node.heartbeat.NodeHeartbeat` (Node and
Lease), an :class:`~sandbox.cluster.informer.Informer` of the Pods with ``spec.nodeName=<node>``
(the only Pod list the Node authorizer allows a node), and one
:class:`~sandbox.node.worker.PodWorker` per Pod uid, started when a Pod appears and told when a newer
version arrives or the Pod vanishes. Whenever the set of container processes changes, it records
them in ``WORKDIR/processes.json`` and calls ``on_processes({"ns/pod": [pid, ...]})``, so a
supervisor can record them in its own state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from sandbox.cluster.informer import PODS, Informer, ResourceKind
from sandbox.cluster.passes import PassLoop
from sandbox.cluster.rest import RawApi, collection_path
from sandbox.config import SandboxConfig, load_sandbox_config
from sandbox.node.addresses import AddressBook, Runner, run_command
from sandbox.node.env import EnvError, Kind
from sandbox.node.events import EventRecorder
from sandbox.node.heartbeat import NodeHeartbeat
from sandbox.node.leftovers import clean_up, record_processes
from sandbox.node.podspec import PodSpecError, plan_pod
from sandbox.node.registration import Capacity
from sandbox.node.restarts import BackOff
from sandbox.node.worker import NodeServices, PodWorker
from sandbox.processes import ProcessRecord

log = logging.getLogger(__name__)

NODE_NAME = "sandbox"


class ProcessNode:
    """A kubelet stand-in that runs the Pods bound to node ``name`` as local processes."""

    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        workdir: Path,
        config: SandboxConfig | None = None,
        *,
        name: str = NODE_NAME,
        host_ip: str = "127.0.0.1",
        capacity: Capacity | None = None,
        on_processes: Callable[[dict[str, list[int]]], None] = lambda _: None,
        lease_seconds: float = 10.0,
        status_seconds: float = 60.0,
        backoff: BackOff | None = None,
        first_probe_interval: float | None = 0.5,
        stop_grace: float = 5.0,
        address_runner: Runner = run_command,
    ) -> None:
        self.api = api
        self.workdir = Path(workdir)
        self.config = config if config is not None else load_sandbox_config()
        self.name = name
        self.host_ip = host_ip
        self.on_processes = on_processes
        self.rest = RawApi(api)
        self._address_runner = address_runner
        self.addresses = AddressBook(self.workdir, address_runner)
        self.heartbeat = NodeHeartbeat(
            self.rest, name, host_ip, capacity=capacity, lease_seconds=lease_seconds,
            status_seconds=status_seconds,
        )  # fmt: skip
        self.services = NodeServices(
            rest=self.rest,
            addresses=self.addresses,
            events=EventRecorder(self.rest, name),
            lookup=self._lookup,
            node_name=name,
            host_ip=host_ip,
            workdir=self.workdir,
            backoff=backoff or BackOff(),
            first_probe_interval=first_probe_interval,
            stop_grace=stop_grace,
        )
        self.pods = Informer(api, PODS, self._changed, field_selector=f"spec.nodeName={name}")
        self._loop = PassLoop(f"node-{name}", self.sync_pods, log, period=1.0)
        self._workers: dict[str, PodWorker] = {}  # Pod uid -> worker
        self._skipped: dict[str, str] = {}  # Pod uid -> why it cannot run (logged once)
        self._finished: set[str] = set()  # Pod uids whose worker is done, while the watch still shows them
        self._lock = threading.RLock()
        self._last_processes: dict[str, list[int]] | None = None
        self._started = False
        self._stopping = threading.Event()

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path, workdir: Path, **options: Any) -> ProcessNode:
        """A node talking to the cluster of ``kubeconfig`` (the node's own identity, normally)."""
        api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        return cls(api, workdir, **options)

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> ProcessNode:
        """Clean up after an earlier node that died, register, then run the Pods bound to this node.

        Returns once the Node is registered and schedulable (the node lifecycle controller lifted the
        API server's initial ``not-ready`` taint) and the first list of its Pods has arrived."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        leftovers = clean_up(self.workdir, runner=self._address_runner)
        if leftovers.processes or leftovers.addresses:
            log.warning(
                "node %s: stopped %d leftover processes and removed leftover addresses %s",
                self.name, len(leftovers.processes), ", ".join(leftovers.addresses) or "none",
            )  # fmt: skip
        self.addresses.reload()
        self.heartbeat.register().start()
        self._started = True
        if not self.heartbeat.wait_schedulable(timeout):
            log.warning(
                "node %s: still tainted after %gs; Pods wait until the taint is lifted", self.name, timeout
            )
        self.pods.start()
        if not self.pods.wait_synced(timeout):
            self.stop()
            raise TimeoutError(f"node {self.name}: the Pod list did not arrive within {timeout}s")
        self._loop.start()
        self._loop.wake()
        return self

    def stop(self) -> None:
        """Stop every container process, remove every Pod address, stop watching and renewing.

        The Pods and the Node stay in the API, as they do when a kubelet stops. Idempotent; a node
        is started once."""
        self._stopping.set()
        self._loop.stop()
        self.pods.stop()
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        threads = [threading.Thread(target=w.shutdown, daemon=True) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60.0)
        self.addresses.release_all()
        if self._started:
            self.heartbeat.stop()
        self._report_processes()

    def __enter__(self) -> ProcessNode:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- reading ------------------------------------------------------------------------------------

    def processes(self) -> dict[str, list[int]]:
        """``namespace/pod`` -> PIDs of its running container processes."""
        with self._lock:
            workers = list(self._workers.values())
        return {w.key: pids for w in workers if (pids := w.pids())}

    def pod_addresses(self) -> dict[str, str]:
        """``namespace/pod`` -> its IP, for the Pods that have one now."""
        with self._lock:
            workers = list(self._workers.values())
        return {w.key: address for w in workers if (address := w.address())}

    # -- the pass -----------------------------------------------------------------------------------

    def _changed(self, _: ResourceKind) -> None:
        self._loop.wake()

    def sync_pods(self) -> None:
        """Give every bound Pod to its worker, start workers for new Pods, tell vanished Pods' workers."""
        seen: set[str] = set()
        for pod in self.pods.items():
            meta = pod.get("metadata") or {}
            uid = str(meta.get("uid") or "")
            if not uid or (pod.get("spec") or {}).get("nodeName") != self.name:
                continue
            seen.add(uid)
            with self._lock:
                worker = self._workers.get(uid)
            if worker is not None:
                worker.update(pod)
                continue
            if uid in self._skipped or uid in self._finished:
                continue  # a Pod the node deleted may linger in the cache until the watch says so
            try:
                plan = plan_pod(pod, self.config)
            except PodSpecError as exc:
                log.warning("node %s cannot run Pod %s: %s", self.name, uid, exc)
                self._skipped[uid] = str(exc)
                continue
            worker = PodWorker(pod, plan, self.services, on_processes_changed=self._report_processes)
            with self._lock:
                if self._stopping.is_set():
                    return
                self._workers[uid] = worker
            worker.start()
        with self._lock:
            for uid, worker in list(self._workers.items()):
                if uid not in seen:
                    worker.vanish()
                if worker.done.is_set():
                    del self._workers[uid]
                    self._finished.add(uid)
        self._skipped = {uid: why for uid, why in self._skipped.items() if uid in seen}
        self._finished &= seen

    def _report_processes(self) -> None:
        current = self.processes()
        with self._lock:
            if current == self._last_processes:
                return
            self._last_processes = current
            record_processes(
                self.workdir, {pod: [ProcessRecord.of(p) for p in pids] for pod, pids in current.items()}
            )
        try:
            self.on_processes(current)
        except Exception:
            log.exception("node %s: on_processes failed", self.name)

    # -- ConfigMaps and Secrets for container environments -------------------------------------------

    def _lookup(self, kind: Kind, namespace: str, name: str) -> Mapping[str, Any] | None:
        path = f"{collection_path('', 'v1', kind, namespace)}/{name}"
        try:
            return self.rest.request("GET", path)
        except ApiException as exc:
            if exc.status == 404:
                return None
            # the Node authorizer learns of a new Pod's references a moment after the Pod: retried
            raise EnvError(f"cannot read {kind} {namespace}/{name}: {exc.status} {exc.reason}") from exc
