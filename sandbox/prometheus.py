"""Launch the real Prometheus server on 127.0.0.1 for tests and the sandbox.

``PrometheusServer`` writes a configuration under its work directory, starts ``/usr/bin/prometheus``
on a free loopback port with the lifecycle API enabled (so scrape targets can be changed with
:meth:`PrometheusServer.reload`), and waits until ``/-/ready`` answers. :meth:`PrometheusServer.backfill`
turns OpenMetrics text into TSDB blocks with ``promtool`` *before* the server starts, which gives tests
deterministic historic data without waiting for scrapes.

Prometheus applies new scrape targets at most every 5 s (its scrape manager throttles target updates),
so the first scrape of a target happens a few seconds after ``start()`` or ``reload()``; use
:meth:`PrometheusServer.wait_for_targets` when a test needs scraped data.

The configuration is written as JSON, which is valid YAML, so no YAML library is needed here.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

INSTALL_HINT = "install it with: sudo apt-get install prometheus"


class PrometheusError(RuntimeError):
    """The Prometheus server could not be prepared, started, reloaded or stopped."""


class PrometheusNotInstalled(PrometheusError):
    """The ``prometheus`` or ``promtool`` binary is missing."""


def find_binary(name: str) -> str:
    """Absolute path of a Prometheus binary, or :class:`PrometheusNotInstalled` with the install command."""
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None)
    if found is None:
        raise PrometheusNotInstalled(f"{name!r} was not found on PATH or in /usr/bin; {INSTALL_HINT}")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrometheusServer:
    """One real Prometheus process bound to 127.0.0.1, owned by this object.

    ``scrape_configs`` are Prometheus ``scrape_configs`` entries (plain dicts), e.g.
    ``{"job_name": "envoy", "metrics_path": "/stats/prometheus", "static_configs": [{"targets": [...]}]}``.
    """

    def __init__(
        self,
        workdir: Path,
        scrape_configs: list[dict[str, Any]] | None = None,
        scrape_interval: str = "1s",
        port: int | None = None,
        *,
        ready_timeout: float = 30.0,
        extra_args: list[str] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.scrape_configs: list[dict[str, Any]] = list(scrape_configs or [])
        self.scrape_interval = scrape_interval
        self.port = port
        self.ready_timeout = ready_timeout
        self.extra_args = list(extra_args or [])
        self.data_dir = self.workdir / "data"
        self.config_path = self.workdir / "prometheus.yml"
        self.log_path = self.workdir / "prometheus.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- state -----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the process this object started is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id of the running server, if any."""
        return self._process.pid if self._process is not None else None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``; only once started."""
        if self.port is None or self._process is None:
            raise PrometheusError("Prometheus is not started: call start() first")
        return f"http://127.0.0.1:{self.port}"

    # -- configuration ---------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        return {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.scrape_interval},
            "scrape_configs": self.scrape_configs,
        }

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self._config(), indent=2) + "\n", encoding="utf-8")

    def backfill(self, openmetrics_text: str) -> None:
        """Write ``openmetrics_text`` (OpenMetrics exposition with timestamps) into the TSDB as blocks.

        Must be called before :meth:`start`: Prometheus loads blocks at start-up. A trailing ``# EOF``
        is added when missing. Sample timestamps are Unix seconds; keep them within the last hour for
        instant queries at "now" (the default 5m look-back applies to the newest sample).
        """
        if self.running:
            raise PrometheusError("backfill() must be called before start(): blocks are loaded at start-up")
        promtool = find_binary("promtool")
        text = openmetrics_text if openmetrics_text.endswith("\n") else openmetrics_text + "\n"
        if not text.rstrip().endswith("# EOF"):
            text += "# EOF\n"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        source = self.workdir / f"backfill-{time.time_ns()}.om"
        source.write_text(text, encoding="utf-8")
        result = subprocess.run(
            [
                promtool,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--quiet",
                str(source),
                str(self.data_dir),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise PrometheusError(
                f"promtool could not backfill {source}: exit {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()}"
            )

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> PrometheusServer:
        """Start the server and wait until ``/-/ready`` answers 200; returns ``self``."""
        if self.running:
            return self
        binary = find_binary("prometheus")
        self._write_config()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port is None:
            self.port = free_port()
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=2d",
                "--log.level=warn",
                *self.extra_args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        delay = 0.05
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise PrometheusError(
                    f"Prometheus exited with code {self._process.returncode} during start-up; "
                    f"log {self.log_path}:\n{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:  # noqa: S310 (http URL built here)
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise PrometheusError(
                    f"Prometheus was not ready within {self.ready_timeout:g}s on {self.url}; "
                    f"log {self.log_path}:\n{self._log_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def reload(self, scrape_configs: list[dict[str, Any]]) -> None:
        """Replace the scrape configuration and apply it through ``POST /-/reload``."""
        self.scrape_configs = list(scrape_configs)
        self._write_config()
        if not self.running:
            return  # applied at the next start()
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST", data=b"")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise PrometheusError(f"Prometheus refused the new configuration: {exc.code} {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise PrometheusError(f"Prometheus reload failed on {self.url}: {exc}") from exc
        if status != 200:
            raise PrometheusError(f"Prometheus reload answered {status}")

    def active_targets(self) -> list[dict[str, Any]]:
        """The ``activeTargets`` of ``/api/v1/targets`` (each with ``health``, ``labels``, ``lastError``)."""
        with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=5) as response:  # noqa: S310
            body = json.loads(response.read())
        targets: list[dict[str, Any]] = body["data"]["activeTargets"]
        return targets

    def wait_for_targets(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` targets have been scraped successfully (health ``up``)."""
        deadline = time.monotonic() + timeout
        while True:
            targets = self.active_targets()
            if sum(1 for target in targets if target.get("health") == "up") >= count:
                return targets
            if time.monotonic() > deadline:
                raise PrometheusError(
                    f"fewer than {count} targets up after {timeout:g}s: "
                    + "; ".join(
                        f"{t['scrapeUrl']}: {t.get('health')} {t.get('lastError', '')}" for t in targets
                    )
                )
            time.sleep(0.25)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process (SIGTERM), wait, and kill it if it does not exit within ``timeout``."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
