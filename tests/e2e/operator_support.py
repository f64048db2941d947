"""What the operator's end-to-end tests drive in a sandbox: apps in their own namespaces, ``serinus run``
as a subprocess, a webhook gate that holds each weight until the test has measured it, the weights
Envoy really serves, and windows of the test's own traffic counted by answering version.

Each app has its own namespace, its own Host (the sandbox's Envoy picks routes by Host) and its own
manifest in the sandbox's fleet repository, so several apps run side by side in one sandbox without
touching each other or the sandbox's steady traffic to the demo host.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.demo import Operator
from sandbox.gitserver import commit_files, read_file
from sandbox.session import Sandbox
from sandbox.traffic import TrafficCounts, TrafficGenerator
from tests.polling import eventually

CANARY_API = "serinus.dev/v1alpha1"
HTTPROUTE_API = "gateway.networking.k8s.io/v1"
REPOSITORY = "demo/podinfo"
PORT = 9898


def image(tag: str) -> str:
    """The demo image of a tag (see ``sandbox/images.yaml``: 1.1.0 healthy, 1.2.0 20% errors)."""
    return f"{REPOSITORY}:{tag}"


# -- the operator -----------------------------------------------------------------------------------


class OperatorProcess(Operator):
    """The demo's ``serinus run`` subprocess, failing tests (with its log) instead of the demo."""

    def check_alive(self) -> None:
        """AssertionError (with the log's tail) if the operator exited."""
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"serinus run exited with code {self.process.returncode}:\n{self.tail(40)}")


# -- the gate ---------------------------------------------------------------------------------------


@dataclass
class GateCall:
    """One call of the gate: which hook type, for which Canary, at which weight, and the answer."""

    hook: str
    canary: str
    weight: int | None
    opened: bool


class WeightGate:
    """A ``confirm-traffic-increase``/``confirm-promotion`` webhook that opens only at approved weights.

    The operator calls it when a step is due (``POST /<hook type>``); the gate reads the Canary's
    ``status.canaryWeight`` and answers 200 when the test approved that weight for that Canary, 403
    otherwise (the operator then holds the weight). Deciding from the status, not from a one-shot
    flag, keeps a repeated call (e.g. after a status conflict) answered the same way.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.approved: dict[str, set[int]] = {}
        self.calls: list[GateCall] = []
        self.lock = threading.Lock()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                opened = gate.decide(self.path.strip("/"), f"{body.get('namespace')}/{body.get('name')}")
                self.send_response(200 if opened else 403)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="weight-gate", daemon=True)

    def start(self) -> WeightGate:
        """Serve in a daemon thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def approve(self, canary: str, weight: int) -> None:
        """Let ``canary`` (``ns/name``) leave ``weight``: the next step or the promotion may happen."""
        with self.lock:
            self.approved.setdefault(canary, set()).add(weight)

    def decide(self, hook: str, canary: str) -> bool:
        """Open for ``canary`` when its current weight is approved; every call is recorded."""
        namespace, _, name = canary.partition("/")
        obj = self.sandbox.get(CANARY_API, "Canary", name, namespace) or {}
        weight = (obj.get("status") or {}).get("canaryWeight")
        with self.lock:
            opened = isinstance(weight, int) and weight in self.approved.get(canary, set())
            self.calls.append(GateCall(hook, canary, weight if isinstance(weight, int) else None, opened))
        return opened

    def webhooks(self) -> list[dict[str, Any]]:
        """The Canary ``analysis.webhooks`` entries that route both gates here."""
        return [
            {"name": f"hold-{kind}", "type": kind, "url": f"{self.url}/{kind}", "timeout": "5s"}
            for kind in ("confirm-traffic-increase", "confirm-promotion")
        ]


# -- one app ----------------------------------------------------------------------------------------


DEPLOYMENT = """\
# {name}, declared in Git; Serinus runs its canaries.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    app: {name}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
        - name: app
          image: {image} # {{"$imagepolicy": "flux-system:{name}"}}
          ports:
            - name: http
              containerPort: {port}
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
"""


@dataclass
class App:
    """One application of a test, in its own namespace, with its own Host and manifest in the fleet repo."""

    sandbox: Sandbox
    namespace: str
    name: str = "web"
    analysis: dict[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> str:
        """The Host its HTTPRoute claims: ``<name>.<namespace>.e2e.local``."""
        return f"{self.name}.{self.namespace}.e2e.local"

    @property
    def path(self) -> str:
        """Its manifest in the fleet repository."""
        return f"apps/{self.namespace}/{self.name}.yaml"

    @property
    def ref(self) -> str:
        """``namespace/name`` of its Canary."""
        return f"{self.namespace}/{self.name}"

    def manifest(self, tag: str) -> str:
        """The Deployment manifest declaring ``demo/podinfo:<tag>``."""
        return DEPLOYMENT.format(name=self.name, namespace=self.namespace, image=image(tag), port=PORT)

    def commit(self, tag: str) -> str:
        """Commit the manifest declaring ``tag`` to ``main`` (as a developer or an image updater would)."""
        return commit_files(self.sandbox.fleet_repo, {self.path: self.manifest(tag)}, f"{self.name}: {tag}")

    def declared(self) -> str:
        """The image ``main`` declares now."""
        for line in read_file(self.sandbox.fleet_repo, self.path).splitlines():
            if "image:" in line:
                return line.split("image:", 1)[1].split("#", 1)[0].strip()
        raise AssertionError(f"no image line in {self.path}")

    def deploy(self, tag: str, **analysis: Any) -> None:
        """Namespace, the manifest committed and applied as Git declares it, and the Canary."""
        self.sandbox.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}})
        self.commit(tag)
        self.sandbox.apply(read_file(self.sandbox.fleet_repo, self.path))
        self.sandbox.apply(self.canary(**analysis))

    def canary(self, **analysis: Any) -> dict[str, Any]:
        """The Canary: Gateway API through the sandbox's Envoy, built-in success rate, Git source."""
        return {
            "apiVersion": CANARY_API, "kind": "Canary",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": self.name},
                "source": {"git": {"url": self.sandbox.git_url, "branch": "main", "path": self.path,
                                   "container": "app", "interval": "1s"}},
                "provider": "gatewayapi",
                "service": {"port": PORT, "targetPort": PORT, "hosts": [self.host],
                            "gatewayRefs": [{"name": "public", "namespace": self.namespace}]},
                "analysis": {
                    "interval": "3s", "threshold": 2, "stepWeight": 20, "maxWeight": 60, "minRequests": 5,
                    "inconclusiveLimit": 3,
                    "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99},
                                 "interval": "10s"}],
                    **analysis,
                },
                "progressDeadlineSeconds": 60,
                "rollback": {"git": "revert"},
            },
        }  # fmt: skip

    # -- reading

    def status(self) -> dict[str, Any]:
        """The Canary's status ({} before the operator wrote one)."""
        obj = self.sandbox.get(CANARY_API, "Canary", self.name, self.namespace) or {}
        return dict(obj.get("status") or {})

    def condition(self, kind: str) -> dict[str, Any]:
        """One condition of the status ({} when absent)."""
        return next((dict(c) for c in self.status().get("conditions") or [] if c.get("type") == kind), {})

    def deployment(self, suffix: str = "") -> dict[str, Any]:
        """The target (``suffix=""``) or the primary (``"-primary"``) Deployment."""
        return self.sandbox.get("apps/v1", "Deployment", self.name + suffix, self.namespace) or {}

    def running_image(self, suffix: str = "") -> str:
        """The image of a Deployment's pod template."""
        return str(self.deployment(suffix)["spec"]["template"]["spec"]["containers"][0]["image"])

    def route(self) -> tuple[int, int] | None:
        """``(primary, canary)`` weights of the HTTPRoute Serinus wrote, or None before it exists."""
        obj = self.sandbox.get(HTTPROUTE_API, "HTTPRoute", self.name, self.namespace)
        if obj is None:
            return None
        refs = {b["name"]: int(b.get("weight", 1)) for b in obj["spec"]["rules"][0]["backendRefs"]}
        return refs.get(f"{self.name}-primary", 0), refs.get(f"{self.name}-canary", 0)

    def envoy_split(self) -> tuple[int, int] | None:
        """``(primary, canary)`` weights Envoy serves for this app's Host right now (from its admin API)."""
        with urllib.request.urlopen(
            f"{self.sandbox.envoy_admin_url}/config_dump?resource=dynamic_route_configs", timeout=5
        ) as response:
            dump = json.loads(response.read())
        for config in dump.get("configs") or []:
            for vhost in (config.get("route_config") or {}).get("virtual_hosts") or []:
                if self.host not in vhost.get("domains", []):
                    continue
                route = vhost["routes"][0]
                if "direct_response" in route:
                    return 0, 0
                clusters = {
                    c["name"]: int(c["weight"]) for c in route["route"]["weighted_clusters"]["clusters"]
                }
                prefix = f"{self.namespace}_{self.name}"
                return clusters.get(f"{prefix}-primary_{PORT}", 0), clusters.get(f"{prefix}-canary_{PORT}", 0)
        return None

    def revert_commits(self) -> list[tuple[str, str]]:
        """``(sha, message)`` of each commit on ``main`` with this app's ``Serinus-Canary`` trailer."""
        done = subprocess.run(
            ["git", "--git-dir", str(self.sandbox.fleet_repo), "log", "--format=%H%n%B%x00", "main"],
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        found = []
        for entry in done.stdout.split("\x00"):
            sha, _, message = entry.strip().partition("\n")
            if f"Serinus-Canary: {self.ref}" in message:
                found.append((sha, message))
        return found

    def head(self) -> str:
        """The commit ``main`` points at."""
        done = subprocess.run(
            ["git", "--git-dir", str(self.sandbox.fleet_repo), "rev-parse", "main"],
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        return done.stdout.strip()


# -- traffic ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """What one window of traffic saw at one weight."""

    weight: int
    counts: TrafficCounts
    canary_version: str

    @property
    def answered(self) -> int:
        """Requests answered in the window."""
        return self.counts.answered

    @property
    def canary_share(self) -> float:
        """Percentage answered by the canary's version."""
        return self.counts.share(self.canary_version)


def measure(app: App, traffic: TrafficGenerator, weight: int, canary_version: str, requests: int,
            *, timeout: float = 60.0) -> Split:  # fmt: skip
    """Count ``requests`` answers while Envoy serves ``weight`` to the canary.

    The window opens only once Envoy's admin API shows the split ``(100 - weight, weight)`` for the
    app's Host, so it holds no request routed under the previous weight, and it is checked again at
    the end: a window during which the split changed is an AssertionError, not a measurement."""
    want = (100 - weight, weight) if weight < 100 else (0, 100)
    eventually(lambda: app.envoy_split() == want, f"Envoy to serve {want} for {app.host}", timeout=30)
    window = traffic.window()
    try:
        counts = window.wait_for(requests, timeout=timeout)
    finally:
        counts = window.close()
    after = app.envoy_split()
    assert after == want, f"the split changed during the window at {weight}%: Envoy now serves {after}"
    return Split(weight, counts, canary_version)


@contextlib.contextmanager
def traffic_to(sandbox: Sandbox, host: str, rps: float) -> Iterator[TrafficGenerator]:
    """The test's own steady traffic to ``host`` through the sandbox's Envoy."""
    generator = TrafficGenerator(sandbox.envoy_url, rps, host=host, concurrency=4)
    with generator:
        yield generator


class StatusRecorder:
    """Polls a Canary's status in a daemon thread and keeps every distinct ``(phase, canaryWeight)``
    in order, so a test sees each weight the status went through, however briefly."""

    def __init__(self, app: App, every: float = 0.05) -> None:
        self.app = app
        self.every = every
        self.seen: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status-recorder", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # a failed read is just a missed sample
                st = self.app.status()
                now = (str(st.get("phase", "")), int(st.get("canaryWeight") or 0))
                if not self.seen or self.seen[-1] != now:
                    self.seen.append(now)
            self._stop.wait(self.every)

    def weights(self) -> list[int]:
        """The distinct weights in the order they were seen (consecutive repeats merged)."""
        out: list[int] = []
        for _, weight in self.seen:
            if not out or out[-1] != weight:
                out.append(weight)
        return out

    def __enter__(self) -> StatusRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
