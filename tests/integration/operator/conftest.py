"""The operator as a real process (`serinus run`) against an API server, git daemon and Prometheus.

- `cluster` runs every test twice: on the API emulator (a fresh one per test) and on the real control
  plane (`kube_control_plane`, shared by the session, with the process node running the Pods; each test
  gets the `shop` namespace afresh), with Serinus' CRDs and the Gateway API HTTPRoute CRD installed.
- `DeploymentController`: the emulator runs no Deployment controller, so on it a thread in the test
  plays it, writing each Deployment's status through the status subresource. On the real control plane
  kube-controller-manager does, from Pods the node really runs and probes.
- A fleet repository served by a real `git daemon`; a real Prometheus answering MetricTemplate queries.
- `Operator`: `python -m controller.cli run ...` as a subprocess with a short tick, killable at will.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import kubernetes
import pytest
import yaml
from kubernetes.client import ApiextensionsV1Api, AppsV1Api, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from sandbox.apiserver.testing import RunningApiServer
from sandbox.gitserver import GitDaemon, commit_files, free_port, read_file, seed_fleet_repo
from sandbox.kubernetes import ControlPlane
from sandbox.kubernetes.testing import SERVERS, namespace_gone, release_namespace
from sandbox.prometheus import PrometheusServer
from tests.integration.operator.counting_proxy import CountingProxy
from tests.polling import eventually

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
NS, NAME = "shop", "podinfo"
OLD = "ghcr.io/acme/podinfo:6.0.3"
NEW = "ghcr.io/acme/podinfo:6.1.0"
MANIFEST = "apps/podinfo/deployment.yaml"

DEPLOYMENT_YAML = """\
# podinfo, managed in Git; Serinus runs the canary.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {{app: podinfo}}
  template:
    metadata:
      labels: {{app: podinfo}}
    spec:
      containers:
        - name: podinfo
          image: {image} # {{"$imagepolicy": "flux-system:podinfo"}}
"""


def manifest(image: str) -> str:
    return DEPLOYMENT_YAML.format(image=image)


class DeploymentController:
    """Marks every Deployment of a namespace rolled out and ready, as the Deployment controller would."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str = NS) -> None:
        self.apps: Any = AppsV1Api(api)
        self.namespace = namespace
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="deployment-controller")

    def _run(self) -> None:
        while not self.stop_flag.is_set():
            with contextlib.suppress(ApiException, OSError, ValueError):
                self.settle()
            self.stop_flag.wait(0.1)

    def settle(self) -> None:
        for dep in self.apps.list_namespaced_deployment(self.namespace).items:
            replicas = dep.spec.replicas if dep.spec.replicas is not None else 1
            want = {"observedGeneration": dep.metadata.generation, "replicas": replicas,
                    "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}
            have = dep.status.to_dict() if dep.status is not None else {}
            if all(have.get(_snake(k)) == v for k, v in want.items()):
                continue
            body = self.apps.api_client.sanitize_for_serialization(dep)
            body["status"] = want
            with contextlib.suppress(ApiException):
                self.apps.replace_namespaced_deployment_status(dep.metadata.name, self.namespace, body)

    def __enter__(self) -> DeploymentController:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_flag.set()
        self.thread.join(5)


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


class Server(Protocol):
    """What the tests use of a server: the emulator's `RunningApiServer` or the real `ControlPlane`."""

    @property
    def url(self) -> str: ...

    @property
    def kubeconfig(self) -> Path: ...


@dataclass
class Cluster:
    """An API server with Serinus' CRDs, a namespace and typed clients."""

    server: Server
    api: kubernetes.client.ApiClient
    kind: str = "emulator"

    def counting_proxy(self) -> CountingProxy:
        """A started counting proxy in front of the server; a plain kubeconfig naming its URL reaches it
        (on the real server the proxy speaks TLS and sends the admin token)."""
        if isinstance(self.server, ControlPlane):
            assert self.server.pki is not None
            return CountingProxy(self.server.url, ca=self.server.pki.ca_cert,
                                 token=self.server.tokens["admin"]).start()  # fmt: skip
        return CountingProxy(self.server.url).start()

    # Typed loosely: the tests read plain JSON shapes out of these clients.
    @property
    def objs(self) -> Any:
        return CustomObjectsApi(self.api)

    @property
    def apps(self) -> Any:
        return AppsV1Api(self.api)

    @property
    def core(self) -> Any:
        return CoreV1Api(self.api)

    def canary(self) -> dict[str, Any]:
        obj: dict[str, Any] = self.objs.get_namespaced_custom_object(
            "serinus.dev", "v1alpha1", NS, "canaries", NAME)
        return obj

    def status(self) -> dict[str, Any]:
        return dict(self.canary().get("status") or {})

    def phase(self) -> str:
        return str(self.status().get("phase", ""))

    def image(self, name: str) -> str:
        dep = self.apps.read_namespaced_deployment(name, NS)
        return str(dep.spec.template.spec.containers[0].image)

    def replicas(self, name: str) -> int:
        return int(self.apps.read_namespaced_deployment(name, NS).spec.replicas)

    def route(self) -> tuple[int, int] | None:
        try:
            route = self.objs.get_namespaced_custom_object(
                "gateway.networking.k8s.io", "v1", NS, "httproutes", NAME)
        except ApiException:
            return None
        refs = {b["name"]: b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]}
        return refs[f"{NAME}-primary"], refs[f"{NAME}-canary"]

    def template(self, query: str, address: str) -> None:
        body: dict[str, Any] = {"apiVersion": "serinus.dev/v1alpha1", "kind": "MetricTemplate",
                "metadata": {"name": "rate", "namespace": NS},
                "spec": {"provider": {"type": "prometheus", "address": address}, "query": query}}
        try:
            current = self.objs.get_namespaced_custom_object("serinus.dev", "v1alpha1", NS, "metrictemplates",
                                                             "rate")
        except ApiException:
            self.objs.create_namespaced_custom_object("serinus.dev", "v1alpha1", NS, "metrictemplates", body)
            return
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        self.objs.replace_namespaced_custom_object(
            "serinus.dev", "v1alpha1", NS, "metrictemplates", "rate", body)


def install(api: kubernetes.client.ApiClient) -> None:
    ext = ApiextensionsV1Api(api)
    for path in (ROOT / "crds" / "canaries.serinus.dev.yaml",
                 ROOT / "crds" / "metrictemplates.serinus.dev.yaml",
                 ROOT / "sandbox" / "crds" / "httproutes.gateway.networking.k8s.io.yaml"):
        try:
            ext.create_custom_resource_definition(yaml.safe_load(path.read_text()))
        except ApiException as exc:
            if exc.status != 409:  # the real server is shared: an earlier test installed them
                raise
    core: Any = CoreV1Api(api)
    core.create_namespace({"metadata": {"name": NS}})
    eventually(lambda: _served(api), "the CRDs to be served", timeout=20)


def _served(api: kubernetes.client.ApiClient) -> bool:
    try:
        CustomObjectsApi(api).list_namespaced_custom_object("serinus.dev", "v1alpha1", NS, "canaries")
        CustomObjectsApi(api).list_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", NS, "httproutes")
    except ApiException:
        return False
    return True


@pytest.fixture(params=SERVERS)
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    if request.param == "emulator":
        apiserver: RunningApiServer = request.getfixturevalue("apiserver")
        api = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(apiserver.kubeconfig))
        install(api)
        with DeploymentController(api):
            yield Cluster(apiserver, api)
        api.close()
        return
    plane: ControlPlane = request.getfixturevalue("kube_control_plane")
    request.getfixturevalue("process_node")
    api = kubernetes.config.new_client_from_config(config_file=str(plane.kubeconfig))  # type: ignore[no-untyped-call]
    core: Any = CoreV1Api(api)
    eventually(lambda: namespace_gone(api, NS), f"namespace {NS} of the previous test to be gone", timeout=90)
    install(api)
    eventually(lambda: _exists(lambda: core.read_namespaced_service_account("default", NS)),
               f"the default ServiceAccount of {NS}", timeout=30)
    try:
        yield Cluster(plane, api, kind="kubernetes")
    finally:
        release_namespace(api, NS)
        api.close()


def _exists(read: Callable[[], object]) -> bool:
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


@dataclass
class Fleet:
    path: Path
    url: str

    def commit(self, image: str, message: str = "bump") -> str:
        return commit_files(self.path, {MANIFEST: manifest(image)}, message)

    def declared(self) -> str:
        for line in read_file(self.path, MANIFEST).splitlines():
            if "image:" in line:
                return line.split("image:")[1].split("#")[0].strip()
        raise AssertionError("no image in the manifest")

    def log(self) -> list[str]:
        done = subprocess.run(["git", "--git-dir", str(self.path), "log", "--format=%H %s%n%b%x00", "main"],
                              capture_output=True, text=True, check=True)
        return [entry.strip() for entry in done.stdout.split("\x00") if entry.strip()]

    def reverts(self) -> list[str]:
        return [entry for entry in self.log() if entry.split(" ", 1)[1].startswith("serinus: revert")]


@pytest.fixture(scope="session")
def git_daemon() -> Iterator[GitDaemon]:
    with tempfile.TemporaryDirectory(prefix="serinus-op-git-") as tmp, GitDaemon(Path(tmp)) as daemon:
        yield daemon


_repos = iter(range(10**6))


@pytest.fixture
def fleet(git_daemon: GitDaemon) -> Fleet:
    name = f"fleet-{os.getpid()}-{next(_repos)}.git"
    path = git_daemon.base_path / name
    seed_fleet_repo(path, {MANIFEST: manifest(OLD)})
    return Fleet(path, git_daemon.url(name))


@pytest.fixture(scope="session")
def prometheus() -> Iterator[PrometheusServer]:
    with tempfile.TemporaryDirectory(prefix="serinus-op-prom-") as tmp, PrometheusServer(Path(tmp)) as prom:
        yield prom


def canary_body(git_url: str, git_interval: str = "1s", **analysis: Any) -> dict[str, Any]:
    return {
        "apiVersion": "serinus.dev/v1alpha1", "kind": "Canary",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
            "source": {"git": {"url": git_url, "branch": "main", "path": MANIFEST, "interval": git_interval}},
            "provider": "gatewayapi",
            "service": {"port": 9898, "targetPort": 9898,
                        "gatewayRefs": [{"name": "public", "namespace": "gateway"}]},
            "analysis": {
                "interval": "1s", "threshold": 2, "stepWeight": 25, "maxWeight": 50, "inconclusiveLimit": 3,
                "metrics": [{"name": "success-rate", "templateRef": {"name": "rate"},
                             "thresholdRange": {"min": 99}, "interval": "1m"}],
                **analysis,
            },
            "progressDeadlineSeconds": 60,
        },
    }


def deploy(cluster: Cluster, fleet: Fleet, *, git_interval: str = "1s", **analysis: Any) -> None:
    """The target Deployment as Git declares it, and its Canary."""
    cluster.apps.create_namespaced_deployment(NS, yaml.safe_load(manifest(OLD)))
    cluster.objs.create_namespaced_custom_object("serinus.dev", "v1alpha1", NS, "canaries",
                                                 canary_body(fleet.url, git_interval, **analysis))


class Operator:
    """`serinus run` as a subprocess: start, SIGKILL, stop, and read its output."""

    def __init__(self, cluster: Cluster, workdir: Path, metrics_server: str, *, identity: str = "op-a",
                 leader_election: bool = False, tick: str = "0.2s", lease_seconds: int = 3,
                 extra_args: Sequence[str] = ()) -> None:
        self.cluster = cluster
        self.workdir = workdir
        self.identity = identity
        self.port = free_port()
        self.log_path = workdir / f"operator-{identity}.log"
        self.argv = [sys.executable, "-m", "controller.cli", "run", "--metrics-port", str(self.port),
                     "--metrics-server", metrics_server, "--tick", tick, "--identity", identity,
                     "--git-cache-dir", str(workdir / f"git-cache-{identity}"), "--lease-namespace", NS,
                     "--leader-election" if leader_election else "--no-leader-election", *extra_args]
        self.env = {**os.environ, "KUBECONFIG": str(cluster.server.kubeconfig),
                    "SERINUS_LEASE_DURATION_SECONDS": str(lease_seconds),
                    "SERINUS_GIT_WEBHOOK_SECRET": "hook-secret"}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Operator:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                        cwd=ROOT)
        log.close()
        self.starts += 1
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return int(self.process.returncode or 0)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def operators(tmp_path: Path) -> Iterator[list[Operator]]:
    """Every Operator a test starts, stopped at the end (their logs printed on failure by pytest -rA)."""
    started: list[Operator] = []
    yield started
    for op in started:
        op.stop()
        print(f"--- operator {op.identity} (started {op.starts} times) ---")  # shown when a test fails
        print(op.output()[-20000:])
