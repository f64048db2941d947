"""One Pod's life on the node: address, processes, probes, restarts, status, and termination.

A :class:`PodWorker` is the kubelet's pod worker for one Pod (one thread each, so a slow probe of one
Pod never delays another). Every ``tick`` or when woken by a new version of its Pod it syncs:

1. sets up the Pod's address (:class:`~sandbox.node.addresses.AddressBook`; a failure leaves every
   container waiting ``FailedCreatePodSandBox``, retried every few seconds);
2. notices exited processes; restarts them per ``restartPolicy`` after the
   :class:`~sandbox.node.restarts.BackOff` (``CrashLoopBackOff`` while it waits);
3. starts containers that should run: the image's command from the image table with ``{host}`` the
   Pod IP and ``{port}`` the first declared ``containerPort`` (a free port when none is declared), and
   the container's environment resolved (``CreateContainerConfigError`` when a reference is missing);
   an image the table does not know is ``ErrImagePull`` then ``ImagePullBackOff``;
4. probes readiness over HTTP on the Pod IP (:class:`~sandbox.node.probes.Readiness`);
5. writes ``pods/status`` (a strategic merge patch, so conditions others own survive) when it differs
   from what it last wrote.

When the Pod gets a ``deletionTimestamp`` the worker SIGTERMs every process group, SIGKILLs what is
left after the grace period, removes the address, writes the final (terminal) status and deletes the
Pod with ``gracePeriodSeconds=0`` and a ``uid`` precondition, as the kubelet does, so the Pod goes
away. A Pod that vanishes from the API (force-deleted) is stopped at once, and :meth:`shutdown` (the
node stopping) stops the processes without touching the API.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from sandbox.cluster.rest import RawApi, collection_path
from sandbox.node.addresses import AddressBook, AddressError
from sandbox.node.containers import ContainerProcess, container_environment, start_container
from sandbox.node.env import EnvError, Lookup, resolve_env
from sandbox.node.events import EventRecorder
from sandbox.node.podspec import ContainerPlan, PodPlan, is_deleting
from sandbox.node.probes import Readiness, http_get_ok
from sandbox.node.restarts import (
    BackOff,
    exit_code_of,
    image_waiting_reason,
    should_restart,
    terminated_reason,
)
from sandbox.node.status import (
    ContainerReport,
    ContainerStateReport,
    PodReport,
    Running,
    Terminated,
    Waiting,
    gate_statuses,
    iso,
    pod_status,
)

log = logging.getLogger(__name__)

STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
_ADDRESS_RETRY = 5.0
_CONFIG_RETRY = 1.0
_IMAGE_BACKOFF_AFTER = 2.0
_UNKNOWN_MESSAGE = (
    "The container could not be located when the pod was deleted.  The container used to be Running"
)


@dataclass(frozen=True)
class NodeServices:
    """What every pod worker of one node shares."""

    rest: RawApi
    addresses: AddressBook
    events: EventRecorder
    lookup: Lookup
    node_name: str
    host_ip: str
    workdir: Path
    backoff: BackOff = field(default_factory=BackOff)
    first_probe_interval: float | None = 0.5
    tick: float = 0.2
    stop_grace: float = 5.0
    """How long :meth:`PodWorker.shutdown` (the node stopping) waits after SIGTERM."""


@dataclass
class _Container:
    plan: ContainerPlan
    port: int | None = None
    process: ContainerProcess | None = None
    readiness: Readiness | None = None
    restart_count: int = 0
    crashes_in_a_row: int = 0
    restart_at: float | None = None
    last_terminated: Terminated | None = None
    final: Terminated | None = None
    """Set once the container will not run again (restart policy, or the Pod terminating)."""
    waiting: Waiting = field(default_factory=lambda: Waiting("ContainerCreating"))
    retry_at: float = 0.0
    pull_failed_at: float | None = None

    @property
    def ready(self) -> bool:
        return self.process is not None and self.readiness is not None and self.readiness.ready

    def state(self) -> ContainerStateReport:
        if self.final is not None:
            return self.final
        if self.process is not None:
            return Running(iso(self.process.started_wall))
        return self.waiting

    def report(self, terminating: bool) -> ContainerReport:
        return ContainerReport(
            name=self.plan.name,
            image=self.plan.image,
            state=self.state(),
            ready=self.ready and not terminating,
            restart_count=self.restart_count,
            last_state=self.last_terminated,
            container_id=self.process.container_id if self.process is not None else None,
        )


class PodWorker:
    """Runs one Pod (by uid) until it is deleted, vanishes or the node stops."""

    def __init__(
        self,
        pod: Mapping[str, Any],
        plan: PodPlan,
        services: NodeServices,
        *,
        on_processes_changed: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plan = plan
        self.services = services
        self.on_processes_changed = on_processes_changed
        self._clock = clock
        self._pod: dict[str, Any] = dict(pod)
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._vanished = False
        self._thread: threading.Thread | None = None
        self.done = threading.Event()
        status = pod.get("status") or {}
        self._start_time = str(status.get("startTime") or iso(time.time()))
        # a Pod already terminal when the node first sees it (say, after a node restart) is not run again
        self._was_terminal = status.get("phase") in ("Succeeded", "Failed")
        self._containers = [_Container(c) for c in plan.containers]
        self._address: str | None = None
        self._address_error: str | None = None
        self._address_retry_at = 0.0
        self._terminating_since: float | None = None
        self._kill_at: float | None = None
        self._written: dict[str, Any] | None = None
        self._pids: list[int] = []
        self._log_dir = services.workdir / "pods" / f"{plan.namespace}_{plan.name}_{plan.uid}"

    # -- driven by the node -------------------------------------------------------------------------

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return self.plan.key

    def start(self) -> PodWorker:
        """Sync in a daemon thread until done."""
        self._thread = threading.Thread(target=self._run, name=f"pod-{self.key}", daemon=True)
        self._thread.start()
        return self

    def update(self, pod: Mapping[str, Any]) -> None:
        """A newer version of the Pod from the watch."""
        with self._lock:
            self._pod = dict(pod)
        self._wake.set()

    def vanish(self) -> None:
        """The Pod is gone from the API (force-deleted, or replaced by one of another uid)."""
        with self._lock:
            self._vanished = True
        self._wake.set()

    def pids(self) -> list[int]:
        """PIDs of the container processes running now."""
        with self._lock:
            return list(self._pids)

    def address(self) -> str | None:
        """The Pod's IP while it has one."""
        with self._lock:
            return self._address

    def shutdown(self) -> None:
        """Stop syncing, then stop every process (SIGTERM, SIGKILL after ``stop_grace``); free the address."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30.0)
        self._stop_everything()

    # -- the loop -----------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    if self.sync():
                        break
                except Exception:  # one failed sync must not leave the Pod unmanaged
                    log.exception("syncing Pod %s failed", self.key)
                self._wake.wait(self.services.tick)
                self._wake.clear()
        finally:
            if not self._stop.is_set():
                self._stop_everything()
            self.done.set()

    def sync(self) -> bool:
        """One sync; True once the worker is finished with its Pod."""
        with self._lock:
            pod, vanished = self._pod, self._vanished
        now = self._clock()
        if vanished:
            self._stop_everything()
            return True
        if self._was_terminal:
            return self._delete_when_asked(pod)
        if is_deleting(pod):
            return self._terminate(pod, now)
        self._observe_exits(pod, now)
        if self._ensure_address(pod, now):
            for container in self._containers:
                self._maybe_start(pod, container, now)
            self._probe(pod, now)
        if all(c.final is not None for c in self._containers):
            self._release_address()  # a finished Pod keeps its IP in its status only
        self._write_status(pod, self._report(pod, terminal=False))
        self._publish_pids()
        return False

    # -- address ------------------------------------------------------------------------------------

    def _ensure_address(self, pod: Mapping[str, Any], now: float) -> bool:
        if self._address is not None:
            return True
        if all(c.final is not None for c in self._containers) or now < self._address_retry_at:
            return False
        try:
            address = self.services.addresses.acquire()
        except AddressError as exc:
            if self._address_error != str(exc):
                log.error("Pod %s has no address: %s", self.key, exc)
                self.services.events.record(pod, "Warning", "FailedCreatePodSandBox", str(exc))
            self._address_error = str(exc)
            self._address_retry_at = now + _ADDRESS_RETRY
            for container in self._containers:
                container.waiting = Waiting("FailedCreatePodSandBox", str(exc))
            return False
        with self._lock:
            self._address, self._address_error = address, None
        for container in self._containers:
            if container.waiting.reason == "FailedCreatePodSandBox":
                container.waiting = Waiting("ContainerCreating")
        return True

    def _release_address(self) -> None:
        with self._lock:
            address, self._address = self._address, None
        if address is not None:
            self.services.addresses.release(address)

    # -- containers ---------------------------------------------------------------------------------

    def _observe_exits(self, pod: Mapping[str, Any], now: float) -> None:
        for container in self._containers:
            process = container.process
            if process is None:
                continue
            returncode = process.poll()
            if returncode is None:
                continue
            process.reap_group()
            code = exit_code_of(returncode)
            ended = Terminated(
                code,
                terminated_reason(code),
                iso(process.started_wall),
                iso(time.time()),
                process.container_id,
            )
            container.process, container.readiness = None, None
            name = container.plan.name
            if should_restart(self.plan.restart_policy, code):
                backoff = self.services.backoff
                container.crashes_in_a_row = backoff.crashes_in_a_row(
                    container.crashes_in_a_row, now - process.started
                )
                delay = backoff.delay(container.crashes_in_a_row)
                container.last_terminated = ended
                container.restart_at = now + delay
                message = (
                    f"back-off {delay:g}s restarting failed container={name} "
                    f"pod={self.plan.name}_{self.plan.namespace}({self.plan.uid})"
                )
                container.waiting = Waiting("CrashLoopBackOff", message)
                if delay > 0:
                    self.services.events.record(
                        pod, "Warning", "BackOff", f"Back-off restarting failed container {name} in pod "
                        f"{self.plan.name}_{self.plan.namespace}({self.plan.uid})", name,
                    )  # fmt: skip
            else:
                container.final = ended

    def _maybe_start(self, pod: Mapping[str, Any], container: _Container, now: float) -> None:
        if container.process is not None or container.final is not None or now < container.retry_at:
            return
        if container.restart_at is not None and now < container.restart_at:
            return
        plan = container.plan
        if plan.command is None:
            self._image_missing(pod, container, now)
            return
        address = self._address
        assert address is not None
        try:
            env = resolve_env(
                plan.env, pod, pod_ip=address, host_ip=self.services.host_ip, lookup=self.services.lookup
            )
        except EnvError as exc:
            if container.waiting.reason != "CreateContainerConfigError":
                self.services.events.record(pod, "Warning", "Failed", f"Error: {exc}", plan.name)
            container.waiting = Waiting("CreateContainerConfigError", str(exc))
            container.retry_at = now + _CONFIG_RETRY
            return
        if container.port is None:
            container.port = plan.declared_port or _free_port(address)
        argv = plan.command.argv(plan.image, container.port, host=address)
        environment = container_environment({**plan.command.env, "HOSTNAME": self.plan.name, **env})
        try:
            process = start_container(
                argv, environment, self._log_dir / f"{plan.name}.log", self.services.workdir
            )
        except OSError as exc:
            container.waiting = Waiting("RunContainerError", f"cannot start {argv[0]}: {exc}")
            container.retry_at = now + self.services.backoff.initial
            return
        if container.restart_at is not None:
            container.restart_count += 1
        container.restart_at = None
        container.process = process
        container.readiness = Readiness(plan.probe, now, self.services.first_probe_interval)
        self.services.events.record(pod, "Normal", "Started", f"Started container {plan.name}", plan.name)

    def _image_missing(self, pod: Mapping[str, Any], container: _Container, now: float) -> None:
        plan = container.plan
        if container.pull_failed_at is None:
            container.pull_failed_at = now
            self.services.events.record(
                pod,
                "Warning",
                "Failed",
                f'Failed to pull image "{plan.image}": {plan.image_error}',
                plan.name,
            )
        attempts = 1 if now - container.pull_failed_at < _IMAGE_BACKOFF_AFTER else 2
        reason = image_waiting_reason(attempts)
        message = (
            str(plan.image_error)
            if reason == "ErrImagePull"
            else f'Back-off pulling image "{plan.image}": ErrImagePull: {plan.image_error}'
        )
        container.waiting = Waiting(reason, message)

    def _probe(self, pod: Mapping[str, Any], now: float) -> None:
        address = self._address
        for container in self._containers:
            readiness = container.readiness
            if container.process is None or readiness is None or address is None or not readiness.due(now):
                continue
            assert container.port is not None
            port = container.plan.probe_port(container.port)
            probe = container.plan.probe
            ok = port is not None and http_get_ok(address, port, probe.path, probe.timeout)
            was_ready = readiness.ready
            if readiness.record(ok, self._clock()) and was_ready:
                self.services.events.record(
                    pod, "Warning", "Unhealthy",
                    f"Readiness probe failed: GET http://{address}:{port}{probe.path} did not answer 2xx/3xx",
                    container.plan.name,
                )  # fmt: skip

    # -- termination --------------------------------------------------------------------------------

    def _terminate(self, pod: Mapping[str, Any], now: float) -> bool:
        meta = pod.get("metadata") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        grace_seconds = float(grace) if isinstance(grace, (int, float)) else self.plan.grace_seconds
        if self._terminating_since is None:
            self._terminating_since = now
            for container in self._containers:
                if container.process is not None:
                    self.services.events.record(
                        pod,
                        "Normal",
                        "Killing",
                        f"Stopping container {container.plan.name}",
                        container.plan.name,
                    )
                    container.process.terminate()
        # a second deletion may shorten the grace period, never lengthen it
        kill_at = self._terminating_since + grace_seconds
        self._kill_at = kill_at if self._kill_at is None else min(self._kill_at, kill_at)
        for container in self._containers:
            if container.process is not None and now >= self._kill_at:
                container.process.kill()
        self._observe_stopped()
        self._publish_pids()
        if any(c.process is not None for c in self._containers):
            self._write_status(pod, self._report(pod, terminal=False))
            return False
        self._release_address()
        self._write_status(pod, self._report(pod, terminal=True))
        self._delete(pod)
        return True

    def _observe_stopped(self) -> None:
        """Containers of a terminating Pod: each ends terminated (exited, or as it last ended)."""
        for container in self._containers:
            process = container.process
            if process is not None:
                returncode = process.poll()
                if returncode is None:
                    continue
                process.reap_group()
                code = exit_code_of(returncode)
                container.final = Terminated(
                    code, terminated_reason(code), iso(process.started_wall), iso(time.time()),
                    process.container_id,
                )  # fmt: skip
                container.process = container.readiness = None
            elif container.final is None:
                container.final = container.last_terminated or Terminated(
                    137, "ContainerStatusUnknown", None, iso(time.time()), message=_UNKNOWN_MESSAGE
                )

    def _delete(self, pod: Mapping[str, Any]) -> None:
        path = f"{collection_path('', 'v1', 'pods', self.plan.namespace)}/{self.plan.name}"
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                "preconditions": {"uid": self.plan.uid}}  # fmt: skip
        try:
            self.services.rest.delete(path, body)
        except ApiException as exc:
            if exc.status not in (404, 409):  # gone already, or a new Pod of the same name: not ours
                log.warning("deleting Pod %s: %s %s", self.key, exc.status, exc.reason)

    def _delete_when_asked(self, pod: Mapping[str, Any]) -> bool:
        if not is_deleting(pod):
            return False
        self._delete(pod)
        return True

    def _stop_everything(self) -> None:
        running = [c for c in self._containers if c.process is not None]
        for container in running:
            assert container.process is not None
            container.process.terminate()
        deadline = time.monotonic() + self.services.stop_grace
        for container in running:
            assert container.process is not None
            container.process.stop(max(0.0, deadline - time.monotonic()))
            container.process = container.readiness = None
        self._release_address()
        self._publish_pids()

    # -- reporting ----------------------------------------------------------------------------------

    def _report(self, pod: Mapping[str, Any], *, terminal: bool) -> PodReport:
        terminating = self._terminating_since is not None
        return PodReport(
            restart_policy=self.plan.restart_policy,
            containers=tuple(c.report(terminating) for c in self._containers),
            host_ip=self.services.host_ip,
            start_time=self._start_time,
            pod_ip=self._address or self._last_ip(),
            sandbox_ready=self._address is not None,
            terminal=terminal,
            generation=self.plan.generation,
            readiness_gates=self.plan.readiness_gates,
        )

    def _last_ip(self) -> str | None:
        written = self._written or {}
        ip = written.get("podIP")
        return str(ip) if ip else None

    def _write_status(self, pod: Mapping[str, Any], report: PodReport) -> None:
        previous = (self._written or pod.get("status") or {}).get("conditions") or []
        status = pod_status(report, previous, iso(time.time()), gate_statuses(pod, report.readiness_gates))
        if status == self._written:
            return
        path = f"{collection_path('', 'v1', 'pods', self.plan.namespace)}/{self.plan.name}/status"
        try:
            self.services.rest.request("PATCH", path, {"status": status}, content_type=STRATEGIC_MERGE_PATCH)
        except ApiException as exc:
            if exc.status == 404:
                return  # deleted meanwhile: the watch says so next
            log.warning("writing the status of Pod %s: %s %s %s", self.key, exc.status, exc.reason, exc.body)
            return
        self._written = status

    def _publish_pids(self) -> None:
        pids = [c.process.pid for c in self._containers if c.process is not None]
        with self._lock:
            changed, self._pids = pids != self._pids, pids
        if changed:
            self.on_processes_changed()


def _free_port(host: str) -> int:
    """A TCP port on ``host`` that was free a moment ago (for a container that declares none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
