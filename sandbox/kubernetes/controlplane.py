"""A real Kubernetes control plane on this machine: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler, built by :mod:`sandbox.kubernetes.build`, each a child process on 127.0.0.1.

::

    plane = ControlPlane(Path("/tmp/cp")).start()     # returns once /readyz answers ok
    plane.url, plane.kubeconfig                       # https://127.0.0.1:<port>, admin kubeconfig
    plane.kubeconfig_for("node")                      # kubeconfig of one identity (TOKENS)
    plane.stop()                                      # stops every process it started; idempotent

The API server authorizes with ``--authorization-mode=Node,RBAC``. Clients authenticate with static
bearer tokens (``--token-auth-file``): ``admin`` is in ``system:masters``; the controller manager and
the scheduler are the users RBAC's bootstrap policy binds (the controller manager then acts through one
ServiceAccount per controller); the node is ``system:node:<name>`` in ``system:nodes``. ServiceAccount
tokens are real (TokenRequest, signed with the key of :mod:`sandbox.kubernetes.pki`).

Every process is recorded by PID and start time in ``DIR/processes.json``, so :func:`stop_recorded`
also cleans up after a parent that died.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from sandbox.gitserver import free_port
from sandbox.kubernetes.build import KUBERNETES_VERSION, install_dir
from sandbox.kubernetes.pki import Pki, ensure_pki
from sandbox.processes import ProcessRecord, is_alive, stop_process, stop_processes

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN_ENV = "SERINUS_KUBERNETES_BIN"
"""Overrides where the binaries are (default ``.tools/kubernetes-<version>/bin`` of the project)."""
SERVICE_CIDR = "10.96.0.0/16"
NODE_NAME = "sandbox"
ISSUER = "https://kubernetes.default.svc.cluster.local"
PROCESSES_FILE = "processes.json"
AUDIT_LOG = "audit.log"
"""Every request the API server answered, at the Metadata level (who, verb, resource, namespace,
status), one JSON event per line: tests read what a controller really asked for."""
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: ["system:kube-controller-manager", "system:kube-scheduler", "system:apiserver"]
  - level: None
    userGroups: ["system:nodes", "system:serviceaccounts:kube-system"]
  - level: Metadata
"""

# identity -> (user, groups)
TOKENS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("admin", ("system:masters",)),
    "controller-manager": ("system:kube-controller-manager", ()),
    "scheduler": ("system:kube-scheduler", ()),
    "node": (f"system:node:{NODE_NAME}", ("system:nodes",)),
}
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


class ControlPlaneError(RuntimeError):
    """The control plane could not be started; the message says why and which log to read."""


class NotBuilt(ControlPlaneError):
    """The binaries are missing: ``./dev setup`` builds them."""


def binaries_dir() -> Path:
    """Where the control plane's binaries are expected."""
    override = os.environ.get(BIN_ENV)
    return Path(override) if override else install_dir(PROJECT_ROOT / ".tools") / "bin"


def check_built(directory: Path | None = None) -> Path:
    """The binaries directory, or :class:`NotBuilt` naming what is missing and how to build it."""
    directory = directory or binaries_dir()
    missing = [name for name in COMPONENTS if not (directory / name).is_file()]
    if missing:
        raise NotBuilt(
            f"the real control plane ({KUBERNETES_VERSION}) is not built: {', '.join(missing)} missing in "
            f"{directory}; build it with: ./dev setup"
        )
    return directory


def write_kubeconfig(path: Path, url: str, ca: Path, token: str, user: str) -> Path:
    """A kubeconfig for one token-authenticated user."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": url, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": user}}],
        "current-context": "sandbox",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def stop_recorded(workdir: Path, grace: float = 10.0) -> list[str]:
    """Stop every process recorded in ``workdir`` that still runs; the names of those stopped."""
    try:
        data = json.loads((Path(workdir) / PROCESSES_FILE).read_text())
    except (OSError, ValueError):
        return []
    records = {name: ProcessRecord.from_json(r) for name, r in data.items()}
    # the API server first, etcd last: nothing should write to a stopped store
    order = sorted(records, key=lambda n: COMPONENTS.index(n) if n in COMPONENTS else -1, reverse=True)
    stopped = []
    for name in order:
        if is_alive(records[name]):
            stop_processes([records[name]], grace=grace)
            stopped.append(name)
    return stopped


@dataclass
class ControlPlane:
    """One control plane in ``workdir`` (its data, certificates, tokens, kubeconfigs and logs)."""

    workdir: Path
    binaries: Path | None = None
    extra_apiserver_args: Sequence[str] = ()
    url: str = ""
    pki: Pki | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (``system:masters``)."""
        return self.kubeconfig_for("admin")

    def kubeconfig_for(self, identity: str) -> Path:
        """The kubeconfig of one of :data:`TOKENS`."""
        return self.workdir / f"{identity}.kubeconfig"

    def log_path(self, component: str) -> Path:
        return self.workdir / f"{component}.log"

    @property
    def audit_log(self) -> Path:
        """The API server's audit log (:data:`AUDIT_POLICY`)."""
        return self.workdir / AUDIT_LOG

    def _audit_policy(self) -> Path:
        path = self.workdir / "audit-policy.yaml"
        path.write_text(AUDIT_POLICY)
        return path

    # -- start ----------------------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> ControlPlane:
        """Start etcd, the API server, the controller manager and the scheduler; return once ready."""
        bins = check_built(self.binaries)
        self.workdir = Path(self.workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        stop_recorded(self.workdir)  # leftovers of a parent that died
        self.pki = ensure_pki(self.workdir / "pki")
        self._write_tokens()
        deadline = time.monotonic() + timeout
        try:
            etcd = self._start_etcd(bins)
            port = free_port()
            self.url = f"https://127.0.0.1:{port}"
            for identity, (user, _) in TOKENS.items():
                write_kubeconfig(self.kubeconfig_for(identity), self.url, self.pki.ca_cert,
                                 self.tokens[identity], user)  # fmt: skip
            self._spawn("kube-apiserver", [str(bins / "kube-apiserver"), *self._apiserver_args(etcd, port)])
            self._wait_ready(deadline)
            self._spawn("kube-controller-manager", [str(bins / "kube-controller-manager"), *self._kcm_args()])
            self._spawn("kube-scheduler", [str(bins / "kube-scheduler"), *self._scheduler_args()])
            self._wait_controllers(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _write_tokens(self) -> None:
        path = self.workdir / "tokens.csv"
        if path.exists():
            rows = [line.split(",", 3) for line in path.read_text().splitlines() if line]
            by_user = {row[1]: row[0] for row in rows}
            self.tokens = {
                identity: by_user[user] for identity, (user, _) in TOKENS.items() if user in by_user
            }
        if set(self.tokens) != set(TOKENS):
            self.tokens = {identity: secrets.token_hex(16) for identity in TOKENS}
            lines = [
                f'{self.tokens[i]},{user},{user},"{",".join(groups)}"' for i, (user, groups) in TOKENS.items()
            ]
            path.write_text("\n".join(lines) + "\n")
            path.chmod(0o600)

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = self.log_path(name).open("ab")
        self._logs.append(log)
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=self.workdir, start_new_session=True)  # fmt: skip
        self._processes[name] = process
        self._record()
        return process

    def _record(self) -> None:
        data = {name: ProcessRecord.of(p.pid).to_json() for name, p in self._processes.items()}
        tmp = self.workdir / f".{PROCESSES_FILE}.tmp"
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, self.workdir / PROCESSES_FILE)

    def _start_etcd(self, bins: Path) -> str:
        client, peer = free_port(), free_port()
        data = self.workdir / "etcd"
        shutil.rmtree(data, ignore_errors=True)  # a fresh cluster each start: the sandbox keeps no state
        self._spawn("etcd", [
            str(bins / "etcd"), "--name", "sandbox", "--data-dir", str(data),
            "--listen-client-urls", f"http://127.0.0.1:{client}",
            "--advertise-client-urls", f"http://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"sandbox=http://127.0.0.1:{peer}",
            "--listen-metrics-urls", "", "--unsafe-no-fsync", "--log-level", "warn",
        ])  # fmt: skip
        return f"http://127.0.0.1:{client}"

    def _apiserver_args(self, etcd: str, port: int) -> list[str]:
        assert self.pki is not None
        return [
            f"--etcd-servers={etcd}", "--bind-address=127.0.0.1", f"--secure-port={port}",
            "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
            f"--tls-cert-file={self.pki.serving_cert}", f"--tls-private-key-file={self.pki.serving_key}",
            f"--client-ca-file={self.pki.ca_cert}", f"--token-auth-file={self.workdir / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            f"--service-account-issuer={ISSUER}", f"--api-audiences={ISSUER}",
            f"--service-account-key-file={self.pki.service_account_pub}",
            f"--service-account-signing-key-file={self.pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--allow-privileged=true", "--profiling=false",
            f"--cert-dir={self.workdir / 'certs'}", "--v=1",
            f"--audit-policy-file={self._audit_policy()}", f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json", "--audit-log-mode=blocking",
            *self.extra_apiserver_args,
        ]  # fmt: skip

    def _kcm_args(self) -> list[str]:
        assert self.pki is not None
        kubeconfig = self.kubeconfig_for("controller-manager")
        return [
            f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--leader-elect=false", "--secure-port=0",
            f"--service-account-private-key-file={self.pki.service_account_key}",
            f"--root-ca-file={self.pki.ca_cert}", "--use-service-account-credentials=true",
            "--controllers=*", f"--service-cluster-ip-range={SERVICE_CIDR}", "--profiling=false", "--v=1",
        ]  # fmt: skip

    def _scheduler_args(self) -> list[str]:
        kubeconfig = self.kubeconfig_for("scheduler")
        return [
            f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--leader-elect=false", "--secure-port=0",
            "--profiling=false", "--v=1",
        ]  # fmt: skip

    # -- readiness -----------------------------------------------------------------------------------

    def _context(self) -> ssl.SSLContext:
        assert self.pki is not None
        return ssl.create_default_context(cafile=str(self.pki.ca_cert))

    def request(self, path: str, identity: str = "admin", timeout: float = 5.0) -> Any:
        """GET ``path`` as one identity and return the decoded JSON (or the text for non-JSON)."""
        req = urllib.request.Request(  # noqa: S310 - our own https:// URL
            self.url + path, headers={"Authorization": f"Bearer {self.tokens[identity]}"}
        )
        with urllib.request.urlopen(req, timeout=timeout, context=self._context()) as response:  # noqa: S310
            body = response.read().decode()
        try:
            return json.loads(body)
        except ValueError:
            return body

    def _check_alive(self) -> None:
        for name, process in self._processes.items():
            if process.poll() is not None:
                raise ControlPlaneError(
                    f"{name} exited with code {process.returncode} while starting; last lines of "
                    f"{self.log_path(name)}:\n{_tail(self.log_path(name))}"
                )

    def _wait_ready(self, deadline: float) -> None:
        last = ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if self.request("/readyz") == "ok":
                    return
            except (OSError, urllib.error.URLError) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise ControlPlaneError(
            f"kube-apiserver not ready in time ({last}); see {self.log_path('kube-apiserver')}"
        )

    def _wait_controllers(self, deadline: float) -> None:
        """The controller manager is working once it made the ``default`` ServiceAccount."""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                self.request("/api/v1/namespaces/default/serviceaccounts/default")
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    raise
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        raise ControlPlaneError(
            "kube-controller-manager made no ServiceAccount in time; "
            f"see {self.log_path('kube-controller-manager')}"
        )

    def server_version(self) -> str:
        """The API server's ``gitVersion``."""
        return str(self.request("/version")["gitVersion"])

    def pids(self) -> dict[str, int]:
        """PID of each running component."""
        return {name: p.pid for name, p in self._processes.items() if p.poll() is None}

    # -- stop ----------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every component, the scheduler first and etcd last; idempotent, never raises."""
        for name in reversed(COMPONENTS):
            process = self._processes.pop(name, None)
            if process is not None and process.poll() is None:
                stop_process(ProcessRecord.of(process.pid), grace=10.0)
                process.wait(timeout=15)
        for log in self._logs:
            log.close()
        self._logs.clear()
        (self.workdir / PROCESSES_FILE).unlink(missing_ok=True)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
