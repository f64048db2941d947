"""The sandbox supervisor: one process that runs the whole environment until SIGTERM.

``python -m sandbox.supervisor --workdir DIR [--rps 20] [--namespace shop] [--control-plane KIND]`` is
what ``serinus sandbox up`` starts, detached. It starts, all on 127.0.0.1 with ports chosen free:

- the control plane, writing ``DIR/kubeconfig``: with ``--control-plane emulator`` (the default) the
  Kubernetes API emulator (``python -m sandbox.apiserver``, a child process); with ``kubernetes`` the
  real etcd, kube-apiserver, kube-controller-manager and kube-scheduler
  (:class:`~sandbox.kubernetes.ControlPlane`, in ``DIR/kubernetes``) and, in this process, a node
  that runs the Pods bound to it as processes (:class:`~sandbox.node.ProcessNode`). It registers the
  mesh CRDs of ``sandbox/crds/`` and Serinus's CRDs of ``crds/``, and creates the namespace;
- Envoy (:class:`~sandbox.mesh.EnvoyMesh`), Prometheus (scraping Envoy and, through file-based
  discovery, the app pods every second) and ``git daemon`` serving ``DIR/git/fleet.git``, seeded from
  ``sandbox/fleet/``;
- in this process: the cluster controllers (:class:`~sandbox.cluster.ClusterControllers`): on the
  emulator with the workload runner (its app processes are this process's children), on the real
  control plane only the mesh's side, fed from the EndpointSlices kube-controller-manager writes; a steady
  :class:`~sandbox.traffic.TrafficGenerator` sending to :data:`DEMO_HOST` through Envoy, and a small
  control endpoint (``GET /traffic``: the generator's counts as JSON; ``GET /healthz``).

Everything it starts is recorded in ``DIR/state.json`` (PID and start time of every process, app
processes included, rewritten as they change), with the URLs and ``"status"``: ``starting``, then
``ready`` or ``failed`` (with ``"error"``), and ``stopped`` after an orderly shutdown. On SIGTERM or
SIGINT it stops everything it started, children first, and exits.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import IO, Any

import kubernetes
import yaml
from kubernetes.client.exceptions import ApiException

from sandbox.cluster import ClusterControllers
from sandbox.cluster.rest import RawApi, collection_path
from sandbox.gitserver import GitDaemon, seed_fleet_repo
from sandbox.kubernetes import ControlPlane
from sandbox.mesh import EnvoyMesh
from sandbox.node import ProcessNode
from sandbox.processes import ProcessRecord, stop_process
from sandbox.prometheus import PrometheusServer
from sandbox.traffic import TrafficGenerator
from sandbox.workloads import WorkloadRunner

log = logging.getLogger("sandbox.supervisor")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SANDBOX_CRDS = Path(__file__).with_name("crds")
SERINUS_CRDS = PROJECT_ROOT / "crds"
FLEET_SEED = Path(__file__).with_name("fleet")
NAMESPACE = "shop"
DEMO_HOST = "podinfo.sandbox.local"
"""The Host the traffic generator sends; a route object must claim it (e.g. HTTPRoute ``hostnames``)."""
FLEET_REPO = "fleet.git"
STATE_FILE = "state.json"
CONTROL_PLANES = ("emulator", "kubernetes")
DRAIN_SECONDS = 2.0  # a replacing replica leaves the mesh this long before its process stops


def child_environment() -> dict[str, str]:
    """This process's environment with the project root on ``PYTHONPATH`` (children import sandbox)."""
    paths = [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


class _Stopping(Exception):
    """SIGTERM arrived while the environment was still starting."""


def fleet_files(seed: Path = FLEET_SEED) -> dict[str, str]:
    """The seed files of the fleet repository: path relative to ``seed`` -> text (README excluded)."""
    return {
        str(path.relative_to(seed)): path.read_text()
        for path in sorted(seed.rglob("*"))
        if path.is_file() and path.name != "README.md"
    }


class StateFile:
    """``DIR/state.json``, replaced atomically on every change (several threads write it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {
            "status": "starting",
            "supervisor": ProcessRecord.of(os.getpid()).to_json(),
            "processes": {},
            "apps": {},
            "urls": {},
        }
        self._lock = threading.Lock()
        self.write()

    def update(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Apply ``change`` to the data and write the file."""
        with self._lock:
            change(self.data)
            self._write_locked()

    def write(self) -> None:
        """Write the current data."""
        with self._lock:
            self._write_locked()

    def _write_locked(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.path)


class Environment:
    """Everything one sandbox runs; :meth:`start` returns when all of it is ready."""

    def __init__(
        self, workdir: Path, *, rps: float = 20.0, namespace: str = NAMESPACE, control_plane: str = "emulator"
    ) -> None:
        if control_plane not in CONTROL_PLANES:
            raise ValueError(f"unknown control plane {control_plane!r}; known: {', '.join(CONTROL_PLANES)}")
        self.workdir = Path(workdir).resolve()
        self.rps = rps
        self.namespace = namespace
        self.control_plane = control_plane
        self.plane: ControlPlane | None = None
        self._plane_start: threading.Thread | None = None
        self._plane_error: list[BaseException] = []
        self.node: ProcessNode | None = None
        self.state = StateFile(self.workdir / STATE_FILE)
        self.kubeconfig = self.workdir / "kubeconfig"
        self.targets_file = self.workdir / "prometheus" / "pods.json"
        self._apiserver: subprocess.Popen[bytes] | None = None
        self._apiserver_log: IO[bytes] | None = None
        self.mesh: EnvoyMesh | None = None
        self.prometheus: PrometheusServer | None = None
        self.git: GitDaemon | None = None
        self.runner: WorkloadRunner | None = None
        self.controllers: ClusterControllers | None = None
        self.traffic: TrafficGenerator | None = None
        self.control: ThreadingHTTPServer | None = None
        self.api: kubernetes.client.ApiClient | None = None

    # -- start --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start every part in dependency order; raise (after recording the error) if one fails."""
        if self.control_plane == "kubernetes":
            self._start_kubernetes()
        else:
            self._start_apiserver()
        self.mesh = EnvoyMesh(self.workdir / "envoy").start()
        self._record("envoy", self.mesh.pid)
        self._start_git()
        self.targets_file.parent.mkdir(parents=True, exist_ok=True)
        if not self.targets_file.exists():
            self.targets_file.write_text("[]")
        scrape = [
            self.mesh.scrape_config("envoy"),
            {
                "job_name": "pods",
                "file_sd_configs": [{"files": [str(self.targets_file)], "refresh_interval": "1s"}],
            },
        ]
        self.prometheus = PrometheusServer(self.workdir / "prometheus", scrape, scrape_interval="1s").start()
        self._record("prometheus", self.prometheus.pid)
        api_url = self._wait_kubernetes() if self.control_plane == "kubernetes" else self._wait_apiserver()
        self.api = kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig))  # type: ignore[no-untyped-call]
        self._bootstrap_cluster()
        if self.plane is not None:
            self._start_node(self.plane)
        else:
            self.runner = WorkloadRunner(self.workdir / "workloads", drain_seconds=DRAIN_SECONDS)
        self.controllers = ClusterControllers(
            self.api, self.runner, self.mesh, self.targets_file, on_processes=self._record_apps
        ).start()
        server_version = self._server_version()
        if self.rps > 0:
            self.traffic = TrafficGenerator(self.mesh.listener_url, self.rps, host=DEMO_HOST).start()
        control_url = self._start_control()
        assert self.git is not None
        urls = {
            "api": api_url,
            "prometheus": self.prometheus.url,
            "envoy": self.mesh.listener_url,
            "envoy_admin": self.mesh.admin_url,
            "git": self.git.url(FLEET_REPO),
            "control": control_url,
        }

        def ready(data: dict[str, Any]) -> None:
            data.update(
                status="ready",
                urls=urls,
                kubeconfig=str(self.kubeconfig),
                namespace=self.namespace,
                demo_host=DEMO_HOST,
                fleet_repo=str(self.workdir / "git" / FLEET_REPO),
                rps=self.rps,
                control_plane={"kind": self.control_plane, "server_version": server_version},
            )

        self.state.update(ready)

    def _record(self, name: str, pid: int | None) -> None:
        if pid is not None:
            record = ProcessRecord.of(pid).to_json()
            self.state.update(lambda data: data["processes"].__setitem__(name, record))

    def _record_apps(self, pids: dict[str, list[int]]) -> None:
        apps = {pod: [ProcessRecord.of(pid).to_json() for pid in group] for pod, group in pids.items()}
        self.state.update(lambda data: data.__setitem__("apps", apps))

    def _start_apiserver(self) -> None:
        log_path = self.workdir / "apiserver.log"
        self._apiserver_log = log_path.open("ab")
        self.kubeconfig.unlink(missing_ok=True)
        env = child_environment()
        self._apiserver = subprocess.Popen(
            [sys.executable, "-m", "sandbox.apiserver", "--host", "127.0.0.1", "--port", "0",
             "--kubeconfig", str(self.kubeconfig)],
            stdin=subprocess.DEVNULL, stdout=self._apiserver_log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )  # fmt: skip
        self._record("apiserver", self._apiserver.pid)

    def _wait_apiserver(self, timeout: float = 30.0) -> str:
        assert self._apiserver is not None
        log_path = self.workdir / "apiserver.log"
        marker = "serving the Kubernetes API on "
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._apiserver.poll() is not None:
                raise RuntimeError(
                    f"the API emulator exited with code {self._apiserver.returncode}; see {log_path}"
                )
            for line in log_path.read_text(errors="replace").splitlines():
                if line.startswith(marker) and self.kubeconfig.exists():
                    return line[len(marker) :].strip()
            time.sleep(0.05)
        raise RuntimeError(f"the API emulator did not start within {timeout}s; see {log_path}")

    def _start_kubernetes(self) -> None:
        """Start the real control plane in a thread (seconds) while Envoy, git and Prometheus start."""
        self.plane = ControlPlane(self.workdir / "kubernetes")

        def start() -> None:
            assert self.plane is not None
            try:
                self.plane.start()
            except BaseException as exc:
                self._plane_error.append(exc)

        self._plane_start = threading.Thread(target=start, name="control-plane", daemon=True)
        self._plane_start.start()

    def _wait_kubernetes(self, timeout: float = 120.0) -> str:
        assert self.plane is not None and self._plane_start is not None
        self._plane_start.join(timeout)
        if self._plane_error:
            raise self._plane_error[0]
        if self._plane_start.is_alive():
            raise RuntimeError(f"the control plane did not start in {timeout:g}s; see {self.plane.workdir}")
        for name, pid in self.plane.pids().items():
            self._record(name, pid)
        shutil.copyfile(self.plane.kubeconfig, self.kubeconfig)
        return self.plane.url

    def _start_node(self, plane: ControlPlane) -> None:
        node_api = kubernetes.config.new_client_from_config(config_file=str(plane.kubeconfig_for("node")))  # type: ignore[no-untyped-call]
        self.node = ProcessNode(node_api, self.workdir / "node", on_processes=self._record_apps).start()

    def _server_version(self) -> str:
        assert self.api is not None
        body = RawApi(self.api).request("GET", "/version")
        return str(body.get("gitVersion", ""))

    def _start_git(self) -> None:
        base = self.workdir / "git"
        base.mkdir(parents=True, exist_ok=True)
        if not (base / FLEET_REPO).exists():
            seed_fleet_repo(base / FLEET_REPO, fleet_files(), message="Fleet: podinfo 1.0.0")
        self.git = GitDaemon(base).start()
        self._record("git-daemon", self.git.pid)

    def _bootstrap_cluster(self) -> None:
        assert self.api is not None
        rest = RawApi(self.api)
        crds = collection_path("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        for path in [*sorted(SANDBOX_CRDS.glob("*.yaml")), *sorted(SERINUS_CRDS.glob("*.yaml"))]:
            for body in yaml.safe_load_all(path.read_text()):
                if body:
                    _create_or_keep(rest, crds, body)
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        _create_or_keep(rest, collection_path("", "v1", "namespaces"), namespace)
        if self.plane is not None:  # Pods are refused until the controller manager made this account
            account = f"{collection_path('', 'v1', 'serviceaccounts', self.namespace)}/default"
            deadline = time.monotonic() + 30
            while not _exists(rest, account):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no ServiceAccount default in {self.namespace} after 30s")
                time.sleep(0.1)

    def _start_control(self) -> str:
        traffic = self.traffic

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/healthz":
                    self._answer(200, {"status": "ok"})
                elif self.path == "/traffic":
                    counts = traffic.counts() if traffic is not None else None
                    self._answer(
                        200,
                        {
                            "by_status": {}
                            if counts is None
                            else {str(k): v for k, v in counts.by_status.items()},
                            "by_version": {} if counts is None else dict(counts.by_version),
                            "transport_errors": 0 if counts is None else counts.transport_errors,
                            "last_error": None if counts is None else counts.last_error,
                        },
                    )
                else:
                    self._answer(404, {"error": f"no such path {self.path}"})

            def _answer(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.control = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.control.daemon_threads = True
        threading.Thread(target=self.control.serve_forever, name="control", daemon=True).start()
        return f"http://127.0.0.1:{self.control.server_address[1]}"

    # -- stop ---------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop everything that was started, the traffic and the controllers first; never raises."""
        steps: list[tuple[str, Callable[[], object]]] = [
            ("traffic", lambda: self.traffic.stop() if self.traffic else None),
            ("control", lambda: self.control.shutdown() if self.control else None),
            ("controllers", lambda: self.controllers.stop() if self.controllers else None),
            ("workloads", lambda: self.runner.stop_all() if self.runner else None),
            ("node", lambda: self.node.stop() if self.node else None),
            ("envoy", lambda: self.mesh.stop() if self.mesh else None),
            ("prometheus", lambda: self.prometheus.stop() if self.prometheus else None),
            ("git", lambda: self.git.stop() if self.git else None),
            ("apiserver", self._stop_apiserver),
            ("control plane", self._stop_kubernetes),
        ]
        for name, step in steps:
            try:
                step()
            except Exception:
                log.exception("stopping %s failed", name)
        if self.api is not None:
            self.api.close()  # type: ignore[no-untyped-call]

    def _stop_apiserver(self) -> None:
        if self._apiserver is not None:
            stop_process(ProcessRecord(self._apiserver.pid), grace=5.0)
            self._apiserver.wait(timeout=5)
            self._apiserver = None
        if self._apiserver_log is not None:
            self._apiserver_log.close()
            self._apiserver_log = None


    def _stop_kubernetes(self) -> None:
        if self._plane_start is not None:
            self._plane_start.join(120)  # a start still running would leave processes behind
        if self.plane is not None:
            self.plane.stop()


def _exists(rest: RawApi, path: str) -> bool:
    try:
        rest.request("GET", path)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _create_or_keep(rest: RawApi, path: str, body: dict[str, Any]) -> None:
    try:
        rest.create(path, body)
    except ApiException as exc:
        if exc.status != 409:  # already there (a restarted supervisor): keep it
            raise


def main(argv: list[str] | None = None) -> int:
    """Run the environment until SIGTERM/SIGINT; exit 1 if it could not start."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.supervisor", description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--rps", type=float, default=20.0, help="steady traffic to the demo host; 0 for none")
    parser.add_argument("--namespace", default=NAMESPACE)
    parser.add_argument("--control-plane", choices=CONTROL_PLANES, default="emulator")
    args = parser.parse_args(argv)
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    started = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if not started.is_set():
            raise _Stopping(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    environment = Environment(
        workdir, rps=args.rps, namespace=args.namespace, control_plane=args.control_plane
    )
    try:
        environment.start()
        started.set()
        log.info("sandbox ready: %s", json.dumps(environment.state.data["urls"]))
    except BaseException as exc:
        started.set()
        log.exception("sandbox failed to start")
        message = f"{type(exc).__name__}: {exc}"
        environment.state.update(lambda data: data.update(status="failed", error=message))
        environment.stop()
        return 1
    while not stop.wait(1.0):
        pass
    log.info("stopping the sandbox")
    environment.stop()
    environment.state.update(lambda data: data.update(status="stopped", apps={}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
