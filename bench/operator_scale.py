"""Controller memory with N Canaries, and the Kubernetes API writes it makes per idle tick.

For each count N: a fresh API emulator (``python -m sandbox.apiserver``) with Serinus' CRDs and the
Gateway API HTTPRoute CRD; N target Deployments and N Canaries in one namespace, all reading one fleet
repository served by a real ``git daemon`` (one manifest per app, each declaring its target's image);
``serinus run --no-leader-election --tick 2s`` as a subprocess. A thread here plays the Deployment
controller (the emulator has none): it writes each Deployment's status ready through the status
subresource. Once every Canary reports phase ``Initialized`` (or the settle time runs out), the
controller's RSS (its process and children, VmRSS from /proc) is sampled, then the API writes over
several idle ticks are counted as the advance of the emulator's global resourceVersion (every write
takes a fresh one; a list response's ``metadata.resourceVersion`` is that counter), minus the writes
this benchmark's own Deployment controller made in the window. The named GETs over the same window
come from the emulator's ``/metrics`` (``apiserver_request_total``) and are printed per Canary per tick
(a figure, no budget in the issue): a Canary at rest reads itself when its Git interval is due and
everything when ``--resync`` passes, nothing in between.

Budgets (issue 5): RSS 60 / 90 / 150 MiB with 0 / 500 / 2,000 Canaries; 0 API writes per idle tick.

    python -m bench.operator_scale [--counts 0,500] [--settle-seconds 600] [--idle-ticks 5] [--resync 30s]
    python -m bench.operator_scale --imports

``--imports`` prints where the idle RSS goes instead: VmRSS of a fresh interpreter after importing
each top-level dependency alone, then cumulatively in the order the operator pulls them in (kopf
first: it imports aiohttp and ``kubernetes.client`` itself, so that much is the floor of any kopf
operator using the official client).

``--counts 0,500,2000`` covers the 2,000 budget too; on a 2-core machine it takes much longer (the
figures printed say how long the settling took and how far it got).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from sandbox.gitserver import GitDaemon, free_port, seed_fleet_repo

ROOT = Path(__file__).resolve().parents[1]
NS = "bench"
TICK_SECONDS = 2.0
IMAGE = "ghcr.io/acme/app:1.0.0"
BUDGETS_MIB = {0: 60, 500: 90, 2000: 150}
CRDS = (
    ROOT / "crds" / "canaries.serinus.dev.yaml",
    ROOT / "crds" / "metrictemplates.serinus.dev.yaml",
    ROOT / "sandbox" / "crds" / "httproutes.gateway.networking.k8s.io.yaml",
)


def app_name(i: int) -> str:
    """The i-th app's name (its Deployment, Canary and manifest directory)."""
    return f"app-{i:04d}"


def deployment(name: str) -> dict[str, Any]:
    """The target Deployment of one app, as its manifest in Git declares it."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": IMAGE}]},
            },
        },
    }


def canary(name: str, git_url: str) -> dict[str, Any]:
    """A Canary of ``name`` whose source is the app's manifest in the fleet repository."""
    return {
        "apiVersion": "serinus.dev/v1alpha1",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "source": {"git": {"url": git_url, "branch": "main", "path": f"apps/{name}/deployment.yaml",
                               "interval": "30s"}},
            "provider": "gatewayapi",
            "service": {"port": 9898, "targetPort": 9898,
                        "gatewayRefs": [{"name": "public", "namespace": "gateway"}]},
            "analysis": {
                "interval": "5s", "threshold": 2, "stepWeight": 25, "maxWeight": 50,
                "metrics": [{"name": "success-rate", "templateRef": {"name": "rate"},
                             "thresholdRange": {"min": 99}, "interval": "1m"}],
            },
            "progressDeadlineSeconds": 60,
        },
    }


class Api:
    """A minimal JSON client of the emulator over one keep-alive connection (one per thread)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.local.conn = conn
        return conn

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """Send one request; returns the status code and the decoded JSON body."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else {})
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Like ``call``, but a non-2xx answer is an error naming the request."""
        status, out = self.call(method, path, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {out.get('message', out)}")
        return out

    def resource_version(self) -> int:
        """The emulator's global resourceVersion (the number of writes it has persisted so far)."""
        return int(self.ok("GET", "/api/v1/namespaces?limit=1")["metadata"]["resourceVersion"])

    def named_reads(self) -> dict[str, int]:
        """GETs of single objects served so far, by resource, from the emulator's ``/metrics``
        (``apiserver_request_total{verb="GET"}``; this benchmark itself only LISTs)."""
        conn = self._conn()
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        out: dict[str, int] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "apiserver_request_total" and sample.labels.get("verb") == "GET":
                    resource = sample.labels["resource"]
                    out[resource] = out.get(resource, 0) + int(sample.value)
        return out


class DeploymentController(threading.Thread):
    """Writes every Deployment of the namespace ready, as kube-controller-manager would; counts its writes."""

    def __init__(self, api: Api) -> None:
        super().__init__(daemon=True, name="deployment-controller")
        self.api = api
        self.stop_flag = threading.Event()
        self.writes = 0

    def run(self) -> None:
        while not self.stop_flag.is_set():
            with contextlib.suppress(RuntimeError, OSError, ValueError):
                self.settle()
            # Listing every Deployment is not free for the emulator at 1,000+ objects: poll gently.
            self.stop_flag.wait(3.0)

    def settle(self) -> None:
        """One pass: write the status of every Deployment that is not yet rolled out and ready."""
        for dep in self.api.ok("GET", f"/apis/apps/v1/namespaces/{NS}/deployments")["items"]:
            replicas = dep["spec"].get("replicas", 1)
            want = {"observedGeneration": dep["metadata"].get("generation", 1), "replicas": replicas,
                    "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}
            have = dep.get("status") or {}
            if all(have.get(k) == v for k, v in want.items()):
                continue
            dep["status"] = want
            path = f"/apis/apps/v1/namespaces/{NS}/deployments/{dep['metadata']['name']}/status"
            status, _ = self.api.call("PUT", path, dep)
            if status < 300:
                self.writes += 1


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` and all its descendants, in KiB (0 for a process that has gone)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += rss_kib(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def start_emulator(workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """``python -m sandbox.apiserver`` on a free port; returns the process, its URL and kubeconfig."""
    kubeconfig = workdir / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.apiserver", "--host", "127.0.0.1", "--port", "0",
         "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=(workdir / "apiserver.log").open("wb"), cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if "serving the Kubernetes API on " not in line:
        stop(proc)
        raise RuntimeError(f"the API emulator did not start (said {line!r}; see {workdir / 'apiserver.log'})")
    return proc, line.rsplit(" ", 1)[1], kubeconfig


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM ``proc`` (by its PID), then SIGKILL if it has not exited within 20 s."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)


def install(api: Api) -> None:
    """The CRDs, the namespace and the MetricTemplate the Canaries refer to."""
    for path in CRDS:
        crd = yaml.safe_load(path.read_text())
        api.ok("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    api.ok("POST", "/api/v1/namespaces", {"metadata": {"name": NS}})
    deadline = time.monotonic() + 20
    while api.call("GET", f"/apis/serinus.dev/v1alpha1/namespaces/{NS}/canaries")[0] != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("the Canary CRD was not served within 20 s")
        time.sleep(0.2)
    api.ok("POST", f"/apis/serinus.dev/v1alpha1/namespaces/{NS}/metrictemplates", {
        "apiVersion": "serinus.dev/v1alpha1", "kind": "MetricTemplate",
        "metadata": {"name": "rate", "namespace": NS},
        "spec": {"provider": {"type": "prometheus", "address": "http://127.0.0.1:9"},
                 "query": "vector(100)"}})


def phases(api: Api) -> dict[str, int]:
    """How many Canaries are in each phase ("" for none reported yet)."""
    counts: dict[str, int] = {}
    for item in api.ok("GET", f"/apis/serinus.dev/v1alpha1/namespaces/{NS}/canaries")["items"]:
        phase = str((item.get("status") or {}).get("phase", ""))
        counts[phase] = counts.get(phase, 0) + 1
    return counts


def measure(count: int, settle_seconds: float, idle_ticks: int, workdir: Path, resync: str = "30s") -> None:
    """Run one count end to end and print its figures."""
    emulator: subprocess.Popen[bytes] | None = None
    operator: subprocess.Popen[bytes] | None = None
    deployments: DeploymentController | None = None
    try:
        emulator, url, kubeconfig = start_emulator(workdir)
        api = Api(url)
        install(api)
        (workdir / "git").mkdir()
        with GitDaemon(workdir / "git") as daemon:
            names = [app_name(i) for i in range(count)]
            files = {f"apps/{n}/deployment.yaml": yaml.safe_dump(deployment(n)) for n in names}
            seed_fleet_repo(workdir / "git" / "fleet.git", files or {"README": "empty fleet\n"})
            git_url = daemon.url("fleet.git")
            created = time.monotonic()
            deployments = DeploymentController(api)
            for n in names:
                api.ok("POST", f"/apis/apps/v1/namespaces/{NS}/deployments", deployment(n))
            deployments.settle()
            deployments.start()
            for n in names:
                api.ok("POST", f"/apis/serinus.dev/v1alpha1/namespaces/{NS}/canaries", canary(n, git_url))
            print(f"canaries={count} created in {time.monotonic() - created:.1f}s", flush=True)

            log = (workdir / "operator.log").open("wb")
            operator = subprocess.Popen(
                [sys.executable, "-m", "controller.cli", "run", "--no-leader-election", "--tick", "2s",
                 "--resync", resync,
                 "--metrics-port", str(free_port()), "--metrics-server", "http://127.0.0.1:9",
                 "--git-cache-dir", str(workdir / "git-cache"), "--log-format", "json"],
                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                env={**os.environ, "KUBECONFIG": str(kubeconfig)})
            log.close()
            started = time.monotonic()
            seen: dict[str, int] = {}
            while time.monotonic() - started < settle_seconds and operator.poll() is None:
                seen = phases(api)
                if seen.get("Initialized", 0) == count and time.monotonic() - started > 3 * TICK_SECONDS:
                    break
                time.sleep(2.0)
            took = time.monotonic() - started
            reached = seen.get("Initialized", 0)
            if operator.poll() is not None:
                tail = (workdir / "operator.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"serinus run exited with {operator.returncode}:\n{tail}")
            settled = "settled" if reached == count else f"NOT settled (phases {seen})"
            print(f"canaries={count} initialized={reached} after {took:.1f}s {settled}", flush=True)

            samples = []
            for _ in range(3):  # the highest of three samples a second apart
                samples.append(rss_kib(operator.pid))
                time.sleep(1.0)
            rss_mib = max(samples) / 1024
            budget = BUDGETS_MIB.get(count)
            verdict = "no budget" if budget is None else ("ok" if rss_mib <= budget else "OVER")
            shown = "-" if budget is None else str(budget)
            print(f"canaries={count} rss_mib={rss_mib:.1f} budget_mib={shown} {verdict}", flush=True)

            # Let writes already in flight land, then count over whole ticks.
            time.sleep(TICK_SECONDS)
            rv0, own0, reads0 = api.resource_version(), deployments.writes, api.named_reads()
            time.sleep(idle_ticks * TICK_SECONDS)
            rv1, own1, reads1 = api.resource_version(), deployments.writes, api.named_reads()
            writes = (rv1 - rv0) - (own1 - own0)
            per_tick = writes / idle_ticks
            verdict = "ok" if writes == 0 else "OVER"
            print(f"canaries={count} idle_writes_per_tick={per_tick:.2f} budget=0 {verdict} "
                  f"({writes} writes over {idle_ticks} ticks of {TICK_SECONDS:.0f}s)", flush=True)
            reads = {r: reads1.get(r, 0) - reads0.get(r, 0) for r in sorted(reads1)}
            reads = {r: n for r, n in reads.items() if n}
            if count:
                per_canary = sum(reads.values()) / idle_ticks / count
                print(f"canaries={count} idle_reads_per_canary_per_tick={per_canary:.2f} "
                      f"(GETs by resource over {idle_ticks} ticks: {reads}; a full look is 4; "
                      f"--resync {resync})", flush=True)
    finally:
        if deployments is not None:
            deployments.stop_flag.set()
            deployments.join(5)
        stop(operator)
        stop(emulator)


IMPORTS = ("kopf", "kubernetes.client", "aiohttp", "git", "prometheus_client", "prometheus_api_client",
           "yaml", "controller.kube.objects", "controller.reconcile", "controller.operator.runtime",
           "controller.handlers")
_PROBE = """
import importlib, re, sys
def rss():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024
base = rss()
for name in sys.argv[1:]:
    before, n = rss(), len(sys.modules)
    importlib.import_module(name)
    print(name, round(base, 1), round(rss() - before, 1), round(rss(), 1), len(sys.modules) - n)
"""


def import_costs() -> None:
    """Print the RSS each dependency costs alone and cumulatively (fresh interpreters)."""
    def probe(names: list[str]) -> list[list[str]]:
        out = subprocess.run([sys.executable, "-c", _PROBE, *names], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        return [line.split() for line in out.splitlines()]

    print(f"{'module':30} {'alone_mib':>9} {'cumulative_mib':>14} {'total_mib':>9} {'new_modules':>11}")
    alone = {row[0]: row for name in IMPORTS for row in probe([name])}
    for name, _base, added, total, modules in probe(list(IMPORTS)):
        print(f"{name:30} {float(alone[name][2]):9.1f} {float(added):14.1f} {float(total):9.1f} "
              f"{modules:>11}")
    print(f"interpreter alone: {float(alone[IMPORTS[0]][1]):.1f} MiB; budget at 0 Canaries: "
          f"{BUDGETS_MIB[0]} MiB (kopf's import alone, with the aiohttp and kubernetes.client it pulls "
          "in, is about that)", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Parse the options and measure each count in turn."""
    parser = argparse.ArgumentParser(prog="python -m bench.operator_scale",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--counts", default="0,500", help="comma-separated Canary counts (default 0,500)")
    parser.add_argument("--settle-seconds", type=float, default=600.0,
                        help="give up waiting for every Canary to be Initialized after this long")
    parser.add_argument("--idle-ticks", type=int, default=5,
                        help="ticks over which idle API writes are counted")
    parser.add_argument("--resync", default="30s",
                        help="serinus run --resync (default 30s, its default; 0 reads everything every tick)")
    parser.add_argument("--imports", action="store_true",
                        help="print the RSS cost of each top-level import instead, and exit")
    args = parser.parse_args(argv)
    if args.imports:
        import_costs()
        return 0
    try:
        counts = [int(c) for c in args.counts.split(",") if c.strip()]
    except ValueError:
        parser.error(f"--counts must be comma-separated integers, got {args.counts!r}")
    for count in counts:
        with tempfile.TemporaryDirectory(prefix=f"serinus-bench-scale-{count}-") as tmp:
            measure(count, args.settle_seconds, args.idle_ticks, Path(tmp), args.resync)
    return 0


if __name__ == "__main__":
    sys.exit(main())
