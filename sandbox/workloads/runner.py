"""Run Deployments' replicas as local processes: start, probe, restart, roll and stop them.

:class:`WorkloadRunner` is level-triggered. Each :meth:`WorkloadRunner.reconcile` call observes the
processes (exits, HTTP readiness), restarts crashed containers (immediately the first time, then
with a doubling back-off reported as ``CrashLoopBackOff``), applies one rollout step of
:func:`~sandbox.workloads.plan.plan_rollout`, stops replicas whose drain time has passed, and returns
a :class:`ReplicaState` per replica. A caller (the emulator glue, or a test) calls it repeatedly,
e.g. through :meth:`WorkloadRunner.run_until`, and publishes the ready replicas as endpoints.
A replica being replaced is first reported not ready and ``terminating``, and only stopped
``drain_seconds`` later, so the mesh can stop sending to it first.

Every replica runs on 127.0.0.1, one free port per container; processes are stopped by PID
(SIGTERM to their own process group, SIGKILL after a grace period), never by name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sandbox.config import SandboxConfig, load_sandbox_config
from sandbox.workloads.plan import (
    NAME_ALPHABET,
    ContainerPlan,
    DesiredWorkload,
    ReplicaView,
    StartReplica,
    TerminateReplica,
    plan_rollout,
    workload_from_deployment,
)
from sandbox.workloads.state import ContainerState, ReplicaState

POD_IP = "127.0.0.1"
_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_FAILURE_THRESHOLD = 3  # consecutive failed probes before a ready container is reported not ready
_MAX_BACKOFF = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((POD_IP, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class _Container:
    plan: ContainerPlan
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    ready: bool = False
    probe_failures: int = 0
    restarts: int = 0
    restart_at: float | None = None
    last_exit: int | None = None


@dataclass
class _Replica:
    pod_name: str
    template_hash: str
    containers: list[_Container]
    created: float
    wall_created: float
    terminating_since: float | None = None
    image_error: str | None = None

    @property
    def ready(self) -> bool:
        return (
            self.terminating_since is None
            and self.image_error is None
            and all(c.ready for c in self.containers)
        )


class WorkloadRunner:
    """Runs the replicas of any number of Deployments, keyed ``namespace/name``."""

    def __init__(
        self,
        workdir: Path,
        config: SandboxConfig | None = None,
        *,
        drain_seconds: float = 1.0,
        stop_grace_seconds: float = 5.0,
        probe_timeout: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workdir = Path(workdir)
        self.config = config if config is not None else load_sandbox_config()
        self.drain_seconds = drain_seconds
        self.stop_grace_seconds = stop_grace_seconds
        self.probe_timeout = probe_timeout
        self._clock = clock
        self._workloads: dict[str, list[_Replica]] = {}
        self._lock = threading.RLock()
        self._logs = self.workdir / "logs"

    # -- the interface the emulator glue drives -----------------------------------------------------

    def reconcile_deployment(self, deployment: Mapping[str, Any]) -> list[ReplicaState]:
        """Plan a Deployment object with the runner's image table, then :meth:`reconcile` it."""
        desired = workload_from_deployment(deployment, self.config)
        return self.reconcile(desired.key, desired)

    def reconcile(self, key: str, desired: DesiredWorkload) -> list[ReplicaState]:
        """Observe, restart, take one rollout step and stop drained replicas; return every replica's state."""
        with self._lock:
            replicas = self._workloads.setdefault(key, [])
            now = self._clock()
            for replica in replicas:
                self._observe(replica, now)
            views = [
                ReplicaView(r.pod_name, r.template_hash, r.ready, r.terminating_since is not None, r.created)
                for r in replicas
            ]
            for action in plan_rollout(desired, views):
                if isinstance(action, StartReplica):
                    replicas.append(self._start_replica(desired, now))
                elif isinstance(action, TerminateReplica):
                    for replica in replicas:
                        if replica.pod_name == action.pod_name and replica.terminating_since is None:
                            replica.terminating_since = now
            drained = [
                r
                for r in replicas
                if r.terminating_since is not None and now - r.terminating_since >= self.drain_seconds
            ]
            self._stop_replicas(drained)
            replicas[:] = [r for r in replicas if r not in drained]
            return [self._state(key, r) for r in replicas]

    def run_until(
        self,
        key: str,
        desired: DesiredWorkload,
        done: Callable[[list[ReplicaState]], bool],
        *,
        timeout: float = 30.0,
        interval: float = 0.1,
        on_states: Callable[[list[ReplicaState]], None] | None = None,
    ) -> list[ReplicaState]:
        """Reconcile every ``interval`` seconds until ``done(states)``; ``on_states`` sees every result.

        Raises TimeoutError (with the last states) after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            states = self.reconcile(key, desired)
            if on_states is not None:
                on_states(states)
            if done(states):
                return states
            if time.monotonic() > deadline:
                summary = [(s.pod_name, s.ready, s.reason, s.terminating) for s in states]
                raise TimeoutError(f"{key} did not reach the wanted state within {timeout}s: {summary}")
            time.sleep(interval)

    def replicas(self, key: str) -> list[ReplicaState]:
        """The last known replicas of one workload, without reconciling."""
        with self._lock:
            return [self._state(key, r) for r in self._workloads.get(key, [])]

    def keys(self) -> list[str]:
        """The workloads this runner has replicas for."""
        with self._lock:
            return sorted(k for k, v in self._workloads.items() if v)

    def remove(self, key: str) -> None:
        """Stop every replica of a workload at once (its Deployment was deleted)."""
        with self._lock:
            self._stop_replicas(self._workloads.pop(key, []))

    def stop_all(self) -> None:
        """Stop every process this runner started."""
        with self._lock:
            for key in list(self._workloads):
                self.remove(key)

    def __enter__(self) -> WorkloadRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()

    # -- processes ----------------------------------------------------------------------------------

    def _start_replica(self, desired: DesiredWorkload, now: float) -> _Replica:
        suffix = "".join(secrets.choice(NAME_ALPHABET) for _ in range(5))
        pod_name = f"{desired.name}-{desired.template_hash}-{suffix}"
        containers = [
            _Container(plan=c, port=free_port(), log=self._logs / f"{pod_name}_{c.name}.log")
            for c in desired.containers
        ]
        replica = _Replica(
            pod_name, desired.template_hash, containers, now, time.time(), None, desired.image_error
        )
        if replica.image_error is None:
            for container in containers:
                self._spawn(container)
        return replica

    def _spawn(self, container: _Container) -> None:
        command = container.plan.command
        assert command is not None  # only spawned when the image resolved
        self._logs.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **command.env}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH")) if p)
        log: IO[bytes]
        with container.log.open("ab") as log:
            container.process = subprocess.Popen(
                command.argv(container.plan.image, container.port, host=POD_IP),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
                start_new_session=True,  # its own process group, so the whole group stops by PID
            )
        container.ready = False
        container.probe_failures = 0

    def _observe(self, replica: _Replica, now: float) -> None:
        if replica.image_error is not None or replica.terminating_since is not None:
            if replica.terminating_since is not None:
                for container in replica.containers:
                    container.ready = False
            return
        for container in replica.containers:
            process = container.process
            if process is not None and process.poll() is not None:
                container.last_exit = process.returncode
                container.process = None
                container.ready = False
                container.restarts += 1
                # the first restart is immediate, later ones back off as the kubelet's do
                delay = (
                    0.0 if container.restarts == 1 else min(_MAX_BACKOFF, 0.5 * 2 ** (container.restarts - 2))
                )
                container.restart_at = now + delay
            if container.process is None and container.restart_at is not None and now >= container.restart_at:
                container.restart_at = None
                self._spawn(container)
            if container.process is not None:
                self._probe(container)

    def _probe(self, container: _Container) -> None:
        url = f"http://{POD_IP}:{container.port}{container.plan.readiness_path}"
        try:
            # always http to a loopback port this runner chose
            with urllib.request.urlopen(url, timeout=self.probe_timeout) as response:
                ok = 200 <= response.status < 400
        except (urllib.error.URLError, OSError, ValueError):
            ok = False
        if ok:
            container.ready, container.probe_failures = True, 0
        else:
            container.probe_failures += 1
            if not container.ready or container.probe_failures >= _FAILURE_THRESHOLD:
                container.ready = False

    def _stop_replicas(self, replicas: list[_Replica]) -> None:
        processes = [c.process for r in replicas for c in r.containers if c.process is not None]
        for process in processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace_seconds
        for process in processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for replica in replicas:
            for container in replica.containers:
                container.process = None
                container.ready = False

    # -- reporting ----------------------------------------------------------------------------------

    def _state(self, key: str, replica: _Replica) -> ReplicaState:
        containers = tuple(self._container_state(replica, c) for c in replica.containers)
        ports: dict[str | int, int] = {}
        for container in replica.containers:
            for declared in container.plan.port_names:
                ports.setdefault(declared, container.port)
        reason = next((c.reason for c in containers if c.reason), None)
        message = next((c.message for c in containers if c.message), None)
        if replica.image_error is not None:
            phase = "Pending"
        elif all(c.pid is not None for c in containers):
            phase = "Running"
        else:
            phase = "Pending" if all(c.restarts == 0 for c in containers) else "Running"
        return ReplicaState(
            pod_name=replica.pod_name,
            deployment_key=key,
            template_hash=replica.template_hash,
            ip=POD_IP,
            port=replica.containers[0].port,
            ports=ports,
            ready=replica.ready,
            restarts=sum(c.restarts for c in containers),
            phase=phase,
            reason=reason,
            message=message,
            terminating=replica.terminating_since is not None,
            containers=containers,
            created=replica.wall_created,
        )

    def _container_state(self, replica: _Replica, container: _Container) -> ContainerState:
        reason: str | None = None
        message: str | None = None
        if container.plan.image_error is not None:
            reason, message = "ErrImagePull", container.plan.image_error
        elif container.process is None and container.restart_at is not None:
            reason = "CrashLoopBackOff" if container.restarts > 1 else "Error"
            message = f"container {container.plan.name} exited with code {container.last_exit}; restarting"
        elif container.process is not None and not container.ready and replica.terminating_since is None:
            reason = "ContainersNotReady"
            message = f"readiness probe GET {container.plan.readiness_path} has not succeeded yet"
        pid = container.process.pid if container.process is not None else None
        return ContainerState(
            name=container.plan.name,
            image=container.plan.image,
            port=container.port,
            ready=container.ready and replica.terminating_since is None,
            restarts=container.restarts,
            pid=pid,
            reason=reason,
            message=message,
        )
