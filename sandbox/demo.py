"""``serinus sandbox demo``: the whole story of Serinus, told against the sandbox in a minute or two.

1. The sandbox comes up; its fleet repository declares ``demo/podinfo:1.0.0``. The target Deployment
   (read from the fleet repository) and a Canary (``provider: gatewayapi``, ``source.git`` = the
   sandbox's git daemon) are applied; the production controller, ``serinus run``, runs as a
   subprocess against the sandbox's API and bootstraps: primary, Services, the HTTPRoute that
   claims the demo host, which the sandbox's traffic generator is hitting through Envoy.
2. A commit declares ``1.1.0`` (healthy): the canary runs step by step and is promoted.
3. A commit declares ``1.2.0`` (20% errors): it fails its checks, traffic returns to the primary and a
   revert commit back to ``1.1.0`` appears in the fleet repository.
4. ``1.2.0`` is committed again: quarantine reverts it at once, and no request is answered by it.

Progress is printed as it happens (one line per check, read from the Canary's ``status.checks`` and
the traffic generator's counters), then a summary. ``--report FILE`` writes the outcome as JSON. The
operator and the sandbox are always stopped at the end, whatever happened.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import yaml

from controller.gitops.manifest import FileKind, revert_image
from sandbox import chart
from sandbox.cluster.rest import RawApi
from sandbox.gitserver import commit_files, free_port, read_file
from sandbox.processes import ProcessRecord, stop_process
from sandbox.session import Sandbox, SandboxError
from sandbox.supervisor import PROJECT_ROOT, child_environment

NAME = "podinfo"
RELEASE_NAMESPACE = "serinus-system"
"""The chart's release namespace on the real control plane (its ServiceAccount lives there)."""
CONTAINER = "podinfo"
MANIFEST = "apps/podinfo/deployment.yaml"
REPOSITORY = "demo/podinfo"
OPERATOR_LOG = "operator.log"

CANARY_GROUP, CANARY_VERSION = "serinus.dev", "v1alpha1"
ANALYSIS_INTERVAL = "5s"
METRIC_WINDOW = "10s"
STEP_WEIGHT, MAX_WEIGHT = 20, 60
SUCCESS_MIN, DURATION_MAX = 99, 500

PROMOTE_TIMEOUT = 75.0
REVERT_TIMEOUT = 60.0
QUARANTINE_TIMEOUT = 30.0
POLL = 0.25


class DemoError(RuntimeError):
    """A step of the demo did not happen as expected; the message says which and what was seen."""


# -- the report -------------------------------------------------------------------------------------


@dataclass
class Check:
    """One metric result of one check, as the Canary's status recorded it."""

    metric: str
    value: float | None
    verdict: str
    weight: int
    time: str


@dataclass
class Release:
    """One commit of the story and what became of it."""

    image: str
    expected: str
    commit: str = ""
    outcome: str = "pending"
    weights: list[int] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    revert_commit: str | None = None
    seconds: float = 0.0
    answers_by_version: dict[str, int] = field(default_factory=dict)
    """Answers the traffic generator got, by version, from the commit until the outcome."""

    @property
    def tag(self) -> str:
        """The image tag (``1.1.0``), which is also the version the demo app reports."""
        return self.image.rpartition(":")[2]

    def to_json(self) -> dict[str, Any]:
        """The report entry."""
        out = asdict(self)
        out["checks"] = [{"metric": c.metric, "value": c.value, "verdict": c.verdict, "weight": c.weight,
                          "time": c.time} for c in self.checks]  # fmt: skip
        return out


# -- the fleet repository ---------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "--git-dir", str(repo), *args], capture_output=True, text=True, check=False, timeout=30
    )
    if done.returncode != 0:
        raise DemoError(f"git {' '.join(args)} in {repo}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Fleet:
    """The sandbox's bare fleet repository, read and written directly (as a developer's push would)."""

    path: Path

    def manifest(self) -> str:
        """The Deployment manifest as ``main`` declares it now."""
        return read_file(self.path, MANIFEST)

    def declared(self) -> str:
        """The image ``main`` declares for the demo app."""
        doc = yaml.safe_load(self.manifest())
        return str(doc["spec"]["template"]["spec"]["containers"][0]["image"])

    def commit_image(self, image: str) -> str:
        """Commit a minimal edit of the image line (the Flux marker kept); returns the SHA."""
        text = revert_image(
            self.manifest(), FileKind.MANIFEST, NAME, CONTAINER, to_image=image, path=MANIFEST
        )
        return commit_files(self.path, {MANIFEST: text}, f"podinfo: release {image}")

    def reverts_of(self, commit: str) -> str | None:
        """The commit on ``main`` whose ``Serinus-Reverts`` trailer names ``commit``, if any."""
        trailer = "%(trailers:key=Serinus-Reverts,valueonly,separator=%x20)"
        log = _git(self.path, "log", f"--format=%H {trailer}", "main")
        for line in log.splitlines():
            sha, _, reverts = line.partition(" ")
            if commit in reverts.split():
                return sha
        return None

    def show(self, commit: str) -> tuple[str, list[str]]:
        """The commit's message and the changed lines of its diff (``-old`` / ``+new``)."""
        message = _git(self.path, "log", "-1", "--format=%B", commit).strip()
        diff = _git(self.path, "show", "--format=", "--unified=0", commit)
        changed = [
            line for line in diff.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]  # fmt: skip
        return message, changed


# -- the operator -----------------------------------------------------------------------------------


class Operator:
    """``serinus run`` as a subprocess against the sandbox: the production controller, unchanged.

    ``namespaces`` defaults to the sandbox's; ``name`` names its log (``<name>.log``), its git cache
    and its PID record (``<name>.json``) in the sandbox's workdir. On the real control plane it runs as
    the Helm chart runs it (:mod:`sandbox.chart`): the rendered container's exact command line and
    environment, authenticated as the chart's ServiceAccount, with the chart's RBAC and no more.
    """

    def __init__(
        self, sandbox: Sandbox, namespaces: Sequence[str] | None = None, *, name: str = "operator",
        tick: str = "0.5s", chart_values: Mapping[str, Any] | None = None,
    ) -> None:  # fmt: skip
        """``chart_values`` override the chart's values on the real control plane (e.g. clusterWide)."""
        self.sandbox = sandbox
        self.chart_values = dict(chart_values or {})
        self.log_path = sandbox.workdir / f"{name}.log"
        self.record_path = sandbox.workdir / f"{name}.json"
        watched = list(namespaces) if namespaces is not None else [sandbox.namespace]
        self.kubeconfig = sandbox.kubeconfig
        self.env: dict[str, str] = {}
        if sandbox.control_plane == "kubernetes":
            self.argv = self._from_chart(watched, name, tick)
            return
        self.argv = [
            sys.executable, "-m", "controller.cli", "run",
            *[arg for ns in watched for arg in ("--namespace", ns)],
            "--metrics-port", str(free_port()),
            "--metrics-server", sandbox.prometheus_url,
            "--no-leader-election",
            "--git-cache-dir", str(sandbox.workdir / f"{name}-git"),
            "--tick", tick,
            "--log-format", "text",
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def _from_chart(self, watched: list[str], name: str, tick: str) -> list[str]:
        """Render the chart for this sandbox, apply its RBAC, and take its command line and env."""
        values = {
            "watchNamespaces": watched, "replicaCount": 1, "leaderElection": {"enabled": False},
            "metrics": {"port": free_port(), "server": self.sandbox.prometheus_url},
            "git": {"cacheDir": str(self.sandbox.workdir / f"{name}-git")},
            "tick": tick, "logFormat": "text", **self.chart_values,
        }  # fmt: skip
        manifests = chart.render(values, namespace=RELEASE_NAMESPACE)
        admin = RawApi(self.sandbox.api_client())
        for namespace in [RELEASE_NAMESPACE, *watched]:  # the chart's Roles need them to exist
            self.sandbox.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        chart.apply_rbac(admin, manifests)
        namespace, account = chart.service_account_of(manifests)
        self.kubeconfig = chart.service_account_kubeconfig(
            admin, self.sandbox.kubeconfig, namespace, account, self.sandbox.workdir / f"{name}.kubeconfig"
        )
        container = chart.controller_container(manifests)
        self.env = chart.resolve_env(container, admin, namespace, pod_name=f"{name}-0")
        self.process = None
        return chart.controller_command(manifests)

    def start(self) -> Operator:
        """Start it, recording its PID in ``<workdir>/<name>.json``."""
        env = {**child_environment(), **self.env, "KUBECONFIG": str(self.kubeconfig)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=PROJECT_ROOT, start_new_session=True,  # a terminal's ^C reaches the demo, which stops it
            )  # fmt: skip
        record = ProcessRecord.of(self.process.pid)
        self.record_path.write_text(json.dumps(record.to_json()) + "\n")
        return self

    def check_alive(self) -> None:
        """Raise if the operator exited."""
        if self.process is not None and self.process.poll() is not None:
            raise DemoError(f"serinus run exited with code {self.process.returncode}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period; idempotent."""
        if self.process is None:
            return
        stop_process(ProcessRecord.of(self.process.pid), grace=15.0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)

    def tail(self, lines: int = 30) -> str:
        """The last lines of its log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# -- the objects applied ----------------------------------------------------------------------------


def canary_manifest(sandbox: Sandbox) -> dict[str, Any]:
    """The demo's Canary: Gateway API through the sandbox's Envoy, built-in metrics, short intervals."""
    return {
        "apiVersion": f"{CANARY_GROUP}/{CANARY_VERSION}",
        "kind": "Canary",
        "metadata": {"name": NAME, "namespace": sandbox.namespace},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
            "source": {"git": {"url": sandbox.git_url, "branch": "main", "path": MANIFEST,
                               "container": CONTAINER, "interval": "2s"}},
            "provider": "gatewayapi",
            "service": {"port": 9898, "targetPort": 9898, "hosts": [sandbox.demo_host],
                        "gatewayRefs": [{"name": "public", "namespace": sandbox.namespace}]},
            "analysis": {
                "interval": ANALYSIS_INTERVAL, "threshold": 2, "stepWeight": STEP_WEIGHT,
                "maxWeight": MAX_WEIGHT, "minRequests": 5, "inconclusiveLimit": 10,
                "metrics": [
                    {"name": "request-success-rate", "thresholdRange": {"min": SUCCESS_MIN},
                     "interval": METRIC_WINDOW},
                    {"name": "request-duration", "thresholdRange": {"max": DURATION_MAX},
                     "interval": METRIC_WINDOW},
                ],
            },
            "progressDeadlineSeconds": 60,
            "rollback": {"git": "revert"},
        },
    }  # fmt: skip


# -- the story --------------------------------------------------------------------------------------


class Demo:
    """Runs the story against a sandbox and an operator that are already up."""

    def __init__(self, sandbox: Sandbox, operator: Operator, out: TextIO) -> None:
        self.sandbox = sandbox
        self.operator = operator
        self.fleet = Fleet(sandbox.fleet_repo)
        self.out = out
        self.started = time.monotonic()
        self.releases: list[Release] = []
        self.processes: dict[int, dict[str, Any]] = {}
        """Every process the sandbox or the demo recorded while the demo ran, by PID."""

    def say(self, text: str) -> None:
        """One progress line, stamped with the seconds since the demo started."""
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=self.out, flush=True)

    def note_processes(self) -> None:
        """Remember every process recorded so far (app processes come and go with each release)."""
        recorded = dict(self.sandbox.processes())
        if self.operator.process is not None:
            recorded["operator"] = ProcessRecord.of(self.operator.process.pid)
        for name, record in recorded.items():
            if record.start is not None:
                self.processes.setdefault(record.pid, {"name": name, **record.to_json()})

    def status(self) -> dict[str, Any]:
        """The Canary's status (empty before the operator wrote one)."""
        obj = self.sandbox.get(f"{CANARY_GROUP}/{CANARY_VERSION}", "Canary", NAME)
        return dict((obj or {}).get("status") or {})

    def by_version(self) -> dict[str, int]:
        """The traffic generator's answers so far, by version."""
        return dict(self.sandbox.traffic_counts().by_version)

    # -- 1. bootstrap

    def bootstrap(self) -> None:
        """Apply the target Deployment as Git declares it and the Canary; wait for Initialized and traffic."""
        self.say(f"fleet repository {self.sandbox.git_url} declares {self.fleet.declared()}")
        self.sandbox.apply(self.fleet.manifest())
        canary = canary_manifest(self.sandbox)
        (self.sandbox.workdir / "canary.yaml").write_text(yaml.safe_dump(canary, sort_keys=False))
        self.sandbox.apply(canary)
        self.say(f"applied Deployment {NAME} and Canary {NAME} ({self.sandbox.workdir / 'canary.yaml'}); "
                 "serinus run bootstraps")  # fmt: skip
        self._wait("the Canary to be Initialized", 60.0,
                   lambda: self.status().get("phase") in ("Initialized", "Succeeded"))  # fmt: skip
        before = self.by_version().get("1.0.0", 0)
        self._wait(f"traffic to {self.sandbox.demo_host} to reach 1.0.0 through Envoy", 30.0,
                   lambda: self.by_version().get("1.0.0", 0) > before + 5)  # fmt: skip
        self.say(f"bootstrapped: {NAME}-primary runs 1.0.0, HTTPRoute {NAME} routes {self.sandbox.demo_host} "
                 "100% to the primary; the traffic generator gets answers")  # fmt: skip

    def _wait(self, what: str, timeout: float, probe: Callable[[], bool]) -> None:
        deadline = time.monotonic() + timeout
        while not probe():
            self.operator.check_alive()
            self.note_processes()
            if time.monotonic() > deadline:
                raise DemoError(f"gave up waiting {timeout:g}s for {what}")
            time.sleep(POLL)

    # -- 2..4. releases

    def release(self, image: str, expected: str) -> Release:
        """Commit ``image`` and follow the Canary until the release is promoted, reverted or quarantined."""
        rel = Release(image=image, expected=expected)
        self.releases.append(rel)
        counts_before = self.by_version()
        rel.commit = self.fleet.commit_image(image)
        committed = time.monotonic()
        self.say(f"commit {rel.commit[:10]} declares {image}")
        timeout = {"promoted": PROMOTE_TIMEOUT, "reverted": REVERT_TIMEOUT}.get(expected, QUARANTINE_TIMEOUT)
        follow = _Follower(self, rel)
        deadline = committed + timeout
        try:
            while rel.outcome == "pending":
                self.operator.check_alive()
                self.note_processes()
                follow.poll()
                if time.monotonic() > deadline:
                    rel.outcome = "timeout"
                    break
                time.sleep(POLL)
        finally:
            rel.seconds = round(time.monotonic() - committed, 1)
        after = self.by_version()
        rel.answers_by_version = {
            v: n - counts_before.get(v, 0) for v, n in sorted(after.items()) if n - counts_before.get(v, 0)
        }
        self._tell_outcome(rel)
        return rel

    def _tell_outcome(self, rel: Release) -> None:
        answers = ", ".join(f"{v}: {n}" for v, n in rel.answers_by_version.items()) or "none"
        mark = "as expected" if rel.outcome == rel.expected else f"EXPECTED {rel.expected}"
        self.say(f"{rel.tag}: {rel.outcome.upper()} after {rel.seconds:g}s ({mark}); answers by version "
                 f"meanwhile: {answers}")  # fmt: skip
        if rel.revert_commit:
            message, changed = self.fleet.show(rel.revert_commit)
            print(f"           git log -1 {rel.revert_commit[:10]}:", file=self.out)
            for line in message.splitlines():
                print(f"             {line}", file=self.out)
            print("           its diff (every changed line):", file=self.out)
            for line in changed:
                print(f"             {line}", file=self.out)
            self.out.flush()

    def settle(self) -> None:
        """After a rollback: wait until no traffic can reach the canary (weight 0, target scaled to 0)."""

        def idle() -> bool:
            target = self.sandbox.get("apps/v1", "Deployment", NAME) or {}
            replicas = (target.get("spec") or {}).get("replicas")
            ready = (target.get("status") or {}).get("readyReplicas") or 0
            return self.status().get("canaryWeight") == 0 and replicas == 0 and ready == 0

        self._wait("the canary to be scaled to 0 with no traffic", 30.0, idle)
        time.sleep(1.0)  # let requests that were in flight finish before the next counts are taken

    def final_state(self) -> tuple[str, str]:
        """(the image Git declares, the image the primary runs)."""
        primary = self.sandbox.get("apps/v1", "Deployment", f"{NAME}-primary") or {}
        template = (primary.get("spec") or {}).get("template") or {}
        containers = (template.get("spec") or {}).get("containers") or [{}]
        return self.fleet.declared(), str(containers[0].get("image"))


class _Follower:
    """Follows one release through the Canary's status: prints each new check, notes weights and outcome."""

    def __init__(self, demo: Demo, rel: Release) -> None:
        self.demo = demo
        self.rel = rel
        self.seen: set[tuple[str, str]] = set()
        self.weight = 0
        self.phase = ""
        self.step = 0
        self.counts = demo.by_version()
        self.ran = False  # a run of this commit started (weights or checks seen)
        self.quarantined = False

    def poll(self) -> None:
        st = self.demo.status()
        rel = self.rel
        current = (st.get("currentRevision") or {}).get("commit")
        mine = current == rel.commit
        phase = str(st.get("phase", ""))
        weight = int(st.get("canaryWeight") or 0)
        if mine:
            self._checks(st, weight)  # before the phase: the last check is what moved it
            if phase != self.phase:
                self.demo.say(f"{rel.tag}: phase {phase}")
                self.phase = phase
            if weight and (not rel.weights or rel.weights[-1] != weight):
                rel.weights.append(weight)
            if weight or rel.checks:
                self.ran = True
            self.weight = weight
        conditions = {c.get("type"): c for c in st.get("conditions") or []}
        quarantine = conditions.get("Quarantined") or {}
        message = str(quarantine.get("message"))
        if quarantine.get("status") == "True" and not self.quarantined and rel.image in message:
            self.quarantined = True
            self.demo.say(f"{rel.tag}: Quarantined: {quarantine.get('message')}")
        self._outcome(st, phase, mine)

    def _checks(self, st: Mapping[str, Any], weight: int) -> None:
        fresh: dict[str, list[Mapping[str, Any]]] = {}
        for record in st.get("checks") or []:
            key = (str(record.get("time")), str(record.get("metric")))
            if key not in self.seen:
                self.seen.add(key)
                fresh.setdefault(key[0], []).append(record)
        for when in sorted(fresh):
            self._check_line(fresh[when], weight)

    def _check_line(self, records: list[Mapping[str, Any]], weight_now: int) -> None:
        # The weight the check measured is the one before this status write (a PASS raises it after).
        during = self.weight
        self.step += 1
        counts = self.demo.by_version()
        delta = {v: n - self.counts.get(v, 0) for v, n in counts.items() if n - self.counts.get(v, 0) > 0}
        self.counts = counts
        total = sum(delta.values())
        shares = " ".join(f"{v} {100 * n / total:.0f}%" for v, n in sorted(delta.items())) if total else "-"
        parts = []
        verdicts = []
        for record in records:
            value = record.get("value")
            verdict = str(record.get("verdict"))
            verdicts.append(verdict)
            self.rel.checks.append(Check(str(record.get("metric")), value, verdict, during,
                                         str(record.get("time"))))  # fmt: skip
            parts.append(f"{_metric_label(str(record.get('metric')), value)} {verdict}")
        overall = "PASS" if all(v == "PASS" for v in verdicts) else next(v for v in verdicts if v != "PASS")
        move = f" -> weight {weight_now}%" if weight_now != during else ""
        self.demo.say(f"{self.rel.tag}: check {self.step} at weight {during:>2}%: {', '.join(parts)} "
                      f"=> {overall}{move}   traffic since last check: {shares}")  # fmt: skip

    def _outcome(self, st: Mapping[str, Any], phase: str, mine: bool) -> None:
        rel = self.rel
        promoted = (st.get("lastPromotedRevision") or {}).get("commit") == rel.commit
        if promoted and phase == "Succeeded":
            rel.outcome = "promoted"
            return
        revert = self.demo.fleet.reverts_of(rel.commit)
        if revert is None:
            return
        rel.revert_commit = revert
        if self.ran:
            if phase == "Failed" or not mine:
                rel.outcome = "reverted"
        elif self.quarantined:
            rel.outcome = "quarantined"


def _metric_label(metric: str, value: object) -> str:
    if not isinstance(value, int | float):
        return f"{metric} (no data)"
    if metric == "request-success-rate":
        return f"success {value:.2f}%"
    if metric == "request-duration":
        return f"p99 {value:.1f} ms"
    return f"{metric} {value:g}"


# -- the command ------------------------------------------------------------------------------------

STORY: tuple[tuple[str, str, str], ...] = (
    (f"{REPOSITORY}:1.1.0", "promoted", "a healthy release"),
    (f"{REPOSITORY}:1.2.0", "reverted", "a release that answers 20% of requests with errors"),
    (f"{REPOSITORY}:1.2.0", "quarantined", "the failed release, committed again"),
)


@contextlib.contextmanager
def _terminate_on_sigterm() -> Iterator[None]:
    """SIGTERM unwinds like ^C, so that ``finally`` blocks stop everything."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_demo(
    workdir: Path | None = None, report: Path | None = None, out: TextIO = sys.stdout,
    control_plane: str = "emulator",
) -> int:  # fmt: skip
    """Tell the whole story; returns 0 only if every release ended as expected (1 otherwise)."""
    workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="serinus-demo-"))
    begun = time.monotonic()
    sandbox: Sandbox | None = None
    operator: Operator | None = None
    demo: Demo | None = None
    problems: list[str] = []
    final: tuple[str, str] | None = None
    plane: dict[str, str] = {"kind": control_plane, "server_version": ""}
    print(f"Serinus sandbox demo in {workdir} (about a minute)", file=out, flush=True)
    with _terminate_on_sigterm():
        try:
            sandbox = Sandbox.up(workdir, control_plane=control_plane)
            plane = {"kind": sandbox.control_plane, "server_version": sandbox.server_version}
            operator = Operator(sandbox).start()
            demo = Demo(sandbox, operator, out)
            demo.started = begun
            demo.say(f"sandbox up on the {sandbox.control_plane} control plane ({sandbox.server_version}): "
                     f"API {sandbox.api_url}, Envoy {sandbox.envoy_url}, Prometheus "
                     f"{sandbox.prometheus_url}; serinus run started (log: {operator.log_path})")  # fmt: skip
            demo.bootstrap()
            for image, expected, words in STORY:
                print(file=out)
                demo.say(f"== {image}: {words}; expected: {expected}")
                rel = demo.release(image, expected)
                if rel.outcome != expected:
                    problems.append(f"{image} ({words}) ended {rel.outcome}, expected {expected}")
                    break
                if expected == "reverted":
                    demo.settle()
                if expected == "quarantined" and rel.answers_by_version.get(rel.tag):
                    problems.append(f"{rel.tag} answered {rel.answers_by_version[rel.tag]} requests while "
                                    "quarantined")  # fmt: skip
            final = demo.final_state()
            if not problems and final[0] != final[1]:
                problems.append(f"Git declares {final[0]} but the primary runs {final[1]}")
        except (DemoError, SandboxError) as exc:
            problems.append(str(exc))
        except Exception as exc:  # whatever broke, the report and the cleanup still happen
            problems.append(f"{type(exc).__name__}: {exc}")
        except KeyboardInterrupt:
            problems.append("interrupted")
        finally:
            log_tail = operator.tail() if operator is not None else ""
            if demo is not None:
                with contextlib.suppress(OSError, ValueError):
                    demo.note_processes()
            if operator is not None:
                operator.stop()
            if sandbox is not None:
                sandbox.down()
    releases = demo.releases if demo is not None else []
    if report is not None:
        processes = list(demo.processes.values()) if demo is not None else []
        _write_report(Path(report), workdir, releases, final=final, problems=problems, processes=processes,
                      control_plane=plane)  # fmt: skip
    _summary(out, releases, final, problems, seconds=time.monotonic() - begun, workdir=workdir)
    if problems:
        where = workdir / OPERATOR_LOG
        print(f"\nlast lines of the operator's log ({where}):", file=sys.stderr)
        print(log_tail or "(empty)", file=sys.stderr)
        return 1
    return 0


def _write_report(
    path: Path, workdir: Path, releases: list[Release], *, final: tuple[str, str] | None,
    problems: list[str], processes: list[dict[str, Any]], control_plane: dict[str, str],
) -> None:  # fmt: skip
    body = {
        "control_plane": control_plane,
        "fleet_repo": str((workdir / "git" / "fleet.git").resolve()),
        "releases": [r.to_json() for r in releases],
        "final": {"declared": final[0], "primary": final[1]} if final else None,
        "workdir": str(workdir.resolve()),
        "ok": not problems,
        "problems": problems,
        "processes": processes,
    }
    path.write_text(json.dumps(body, indent=2) + "\n")


def _summary(
    out: TextIO, releases: list[Release], final: tuple[str, str] | None, problems: list[str],
    *, seconds: float, workdir: Path,
) -> None:  # fmt: skip
    print("\nSummary", file=out)
    for rel in releases:
        weights = " -> ".join(f"{w}%" for w in rel.weights) or "no traffic"
        revert = f", revert commit {rel.revert_commit[:10]}" if rel.revert_commit else ""
        fails = sum(1 for c in rel.checks if c.verdict == "FAIL")
        print(f"  {rel.image:<20} {rel.outcome:<12} weights {weights:<22} {len(rel.checks)} metric checks "
              f"({fails} FAIL){revert}, {rel.seconds:g}s", file=out)  # fmt: skip
    if final is not None:
        print(f"  Git declares {final[0]}; the primary runs {final[1]}", file=out)
    print(f"  {seconds:.0f}s in all; every process stopped; files kept in {workdir}", file=out)
    print(f"  the fleet history: git --git-dir {workdir / 'git' / 'fleet.git'} log --stat", file=out)
    if problems:
        print("\nserinus sandbox demo FAILED:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
    else:
        print("  every release ended as expected", file=out)
    out.flush()


def main(args: argparse.Namespace) -> int:
    """Handler of ``serinus sandbox demo [--workdir DIR] [--report FILE] [--control-plane KIND]``."""
    workdir = Path(args.workdir) if getattr(args, "workdir", None) else None
    report = Path(args.report) if getattr(args, "report", None) else None
    return run_demo(workdir, report, control_plane=str(getattr(args, "control_plane", "emulator")))
