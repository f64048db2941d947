"""`serinus sandbox demo` end to end: the production controller against the whole sandbox.

Runs the demo once as a subprocess (`serinus sandbox demo --workdir W --report R`) and pins, from its
report and from the real fleet repository it leaves behind:

- `1.1.0` is promoted with increasing weights, in steps of `stepWeight`, up to `maxWeight`;
- `1.2.0` is reverted: a FAIL check, answers from `1.2.0` while it ran, and one revert commit whose diff
  changes only the image line back to `1.1.0`, with the `Serinus-Canary`/`Serinus-Reverts` trailers;
- `1.2.0` committed again is quarantined: reverted again by a second commit, no check and no weight,
  and not one answer from `1.2.0` while the 1.1.0 primary kept answering;
- at the end Git declares `1.1.0` and the primary runs it;
- no process is left: every PID the sandbox or the demo recorded (start time included) is gone;
- when the story breaks (the operator dies, or the demo gets SIGTERM), the demo exits 1 with a clear
  message and the operator's last log lines, and still leaves no process behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.kubernetes.testing import SERVERS
from sandbox.processes import ProcessRecord, is_alive
from sandbox.session import read_state

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = "apps/podinfo/deployment.yaml"
GOOD, BAD = "demo/podinfo:1.1.0", "demo/podinfo:1.2.0"


@dataclass
class DemoRun:
    control_plane: str
    workdir: Path
    report: dict[str, Any]
    returncode: int
    output: str

    @property
    def releases(self) -> list[dict[str, Any]]:
        return list(self.report["releases"])

    @property
    def repo(self) -> Path:
        return Path(self.report["fleet_repo"])

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", "--git-dir", str(self.repo), *args], capture_output=True, text=True,
                              check=True, timeout=30)  # fmt: skip
        return done.stdout

    def analysis(self) -> dict[str, Any]:
        canary = yaml.safe_load((self.workdir / "canary.yaml").read_text())
        return dict(canary["spec"]["analysis"])


@pytest.fixture(scope="module", params=SERVERS)
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One demo run per control plane: the API emulator, and the real one with the process node."""
    control_plane = str(request.param)
    base = tmp_path_factory.mktemp(f"demo-{control_plane}")
    workdir, report = base / "work", base / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "controller.cli", "sandbox", "demo", "--workdir", str(workdir),
         "--report", str(report), "--control-plane", control_plane],
        capture_output=True, text=True, cwd=ROOT, timeout=280, check=False,
    )  # fmt: skip
    output = f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
    assert report.exists(), f"the demo wrote no report (exit {done.returncode})\n{output}"
    return DemoRun(control_plane, workdir, json.loads(report.read_text()), done.returncode, output)


def _declared(text: str) -> str:
    doc = yaml.safe_load(text)
    return str(doc["spec"]["template"]["spec"]["containers"][0]["image"])


def _changed_lines(run: DemoRun, commit: str) -> list[str]:
    diff = run.git("show", "--format=", "--unified=0", commit)
    return [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def _trailer(run: DemoRun, commit: str, key: str) -> str:
    return run.git("log", "-1", f"--format=%(trailers:key={key},valueonly)", commit).strip()


def test_the_demo_succeeds_and_tells_the_story(demo: DemoRun) -> None:
    assert demo.returncode == 0, demo.output
    assert demo.report["ok"] is True and demo.report["problems"] == []
    assert [(r["image"], r["outcome"]) for r in demo.releases] == [
        (GOOD, "promoted"), (BAD, "reverted"), (BAD, "quarantined")]  # fmt: skip
    assert "every release ended as expected" in demo.output
    if demo.control_plane == "kubernetes":  # the chart's ServiceAccount sufficed: nothing was refused
        log = (demo.workdir / "operator.log").read_text()
        assert [line for line in log.splitlines() if "forbidden" in line.lower()] == []
    plane = demo.report["control_plane"]
    assert plane["kind"] == demo.control_plane
    # the emulator answers with the release it emulates, the real server with the one built
    assert plane["server_version"] == ("v1.37.2" if demo.control_plane == "kubernetes" else "v1.37.0")


def test_good_release_is_promoted_step_by_step_up_to_max_weight(demo: DemoRun) -> None:
    good = demo.releases[0]
    analysis = demo.analysis()
    weights = good["weights"]
    assert len(weights) >= 2
    assert weights == sorted(set(weights)), f"weights must increase: {weights}"
    assert all(w % analysis["stepWeight"] == 0 for w in weights), weights
    assert weights[-1] == analysis["maxWeight"]
    assert good["revert_commit"] is None
    verdicts = [c["verdict"] for c in good["checks"]]
    # No check failed; too few requests in a window is INCONCLUSIVE (it holds the weight), never a FAIL.
    assert "FAIL" not in verdicts and "ERROR" not in verdicts, good["checks"]
    passed = [c for c in good["checks"] if c["verdict"] == "PASS" and c["metric"] == "request-success-rate"]
    assert len(passed) >= len(weights)  # every step was earned by a passing check
    assert {c["metric"] for c in good["checks"]} == {"request-success-rate", "request-duration"}
    assert good["answers_by_version"].get("1.1.0", 0) > 0  # the canary really served traffic
    assert _declared(demo.git("show", f"{good['commit']}:{MANIFEST}")) == GOOD


def test_bad_release_fails_and_is_reverted_in_git_by_an_image_line_edit(demo: DemoRun) -> None:
    good, bad = demo.releases[0], demo.releases[1]
    failing = [c for c in bad["checks"] if c["verdict"] == "FAIL"]
    assert failing, bad["checks"]
    assert all(c["metric"] == "request-success-rate" and c["value"] < 99 for c in failing), failing
    assert bad["answers_by_version"].get("1.2.0", 0) > 0  # it ran as a canary before it was rolled back

    revert = bad["revert_commit"]
    assert revert and revert != bad["commit"]
    assert demo.git("log", "-1", "--format=%s", revert).startswith("serinus: revert shop/podinfo to " + GOOD)
    assert _trailer(demo, revert, "Serinus-Canary") == "shop/podinfo"
    assert _trailer(demo, revert, "Serinus-Reverts") == bad["commit"]
    changed = _changed_lines(demo, revert)
    assert len(changed) == 2, changed
    removed, added = changed
    assert removed.startswith("-") and added.startswith("+")
    assert removed[1:].replace("1.2.0", "1.1.0") == added[1:], changed  # only the tag differs
    assert "$imagepolicy" in added  # the Flux marker is kept
    # The reverted file is byte for byte the promoted one.
    assert demo.git("show", f"{revert}:{MANIFEST}") == demo.git("show", f"{good['commit']}:{MANIFEST}")


def test_recommitted_bad_release_is_quarantined_without_traffic(demo: DemoRun) -> None:
    bad, again = demo.releases[1], demo.releases[2]
    assert again["commit"] not in (bad["commit"], bad["revert_commit"])
    assert _declared(demo.git("show", f"{again['commit']}:{MANIFEST}")) == BAD
    assert again["checks"] == [] and again["weights"] == []
    assert again["answers_by_version"].get("1.2.0", 0) == 0, again["answers_by_version"]
    assert again["answers_by_version"].get("1.1.0", 0) > 0  # traffic flowed meanwhile, all to the primary
    revert = again["revert_commit"]
    assert revert and revert != bad["revert_commit"]
    assert _trailer(demo, revert, "Serinus-Reverts") == again["commit"]
    assert len(_changed_lines(demo, revert)) == 2
    # One revert commit per failed release, no more (I4).
    subjects = demo.git("log", "--format=%s", "main").splitlines()
    assert sum(s.startswith("serinus: revert") for s in subjects) == 2, subjects


def test_git_declares_what_the_primary_runs_at_the_end(demo: DemoRun) -> None:
    assert _declared(demo.git("show", f"main:{MANIFEST}")) == GOOD
    assert demo.report["final"] == {"declared": GOOD, "primary": GOOD}


def test_no_process_is_left_behind(demo: DemoRun) -> None:
    recorded = [ProcessRecord.from_json(p) for p in demo.report["processes"]]
    names = {p["name"] for p in demo.report["processes"]}
    servers = {"emulator": {"apiserver"},
               "kubernetes": {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}}
    wanted = {"supervisor", *servers[demo.control_plane], "envoy", "prometheus", "git-daemon", "operator"}
    assert wanted <= names, names
    assert any(name.startswith("app:") for name in names), names
    state = read_state(demo.workdir)
    recorded.append(ProcessRecord.from_json(state["supervisor"]))
    recorded += [ProcessRecord.from_json(r) for r in state["processes"].values()]
    recorded.append(ProcessRecord.from_json(json.loads((demo.workdir / "operator.json").read_text())))
    alive = [r for r in recorded if is_alive(r)]
    assert alive == [], f"still running: {alive}"
    if demo.control_plane == "kubernetes":  # the process node gave every Pod an address and took it back
        log = (demo.workdir / "supervisor.log").read_text()
        added = re.findall(r"added Pod address (198\.1[89]\.[0-9.]+) to lo", log)
        removed = re.findall(r"removed Pod address (198\.1[89]\.[0-9.]+) from lo", log)
        assert added, "the node logged no Pod address"
        assert sorted(added) == sorted(removed)
        assert json.loads((demo.workdir / "node" / "addresses.json").read_text())["addresses"] == []


# -- when the story breaks: a clear failure, the operator's last log lines, and nothing left running


def _start_demo(workdir: Path, report: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "controller.cli", "sandbox", "demo", "--workdir", str(workdir),
         "--report", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip


def _wait_for_file(path: Path, process: subprocess.Popen[str]) -> None:
    # Bounded by the test timeout; it ends early if the demo exits before writing the file.
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the demo exited ({process.returncode}) before {path.name}:\n{out}\n{err}")
        time.sleep(0.1)


def _assert_nothing_left(workdir: Path, report: dict[str, Any]) -> None:
    recorded = [ProcessRecord.from_json(p) for p in report["processes"]]
    state = read_state(workdir)
    recorded += [ProcessRecord.from_json(r) for r in state["processes"].values()]
    recorded.append(ProcessRecord.from_json(state["supervisor"]))
    assert {p["name"] for p in report["processes"]} >= {"supervisor", "operator"}
    assert [r for r in recorded if is_alive(r)] == []


def test_a_dead_operator_fails_the_demo_with_its_log_and_stops_everything(tmp_path: Path) -> None:
    workdir, report_path = tmp_path / "work", tmp_path / "report.json"
    demo = _start_demo(workdir, report_path)
    _wait_for_file(workdir / "canary.yaml", demo)  # the operator runs and the story has begun
    while "operator started" not in (workdir / "operator.log").read_text() and demo.poll() is None:
        time.sleep(0.1)
    operator = ProcessRecord.from_json(json.loads((workdir / "operator.json").read_text()))
    os.kill(operator.pid, signal.SIGKILL)
    out, err = demo.communicate(timeout=120)
    assert demo.returncode == 1, out + err
    assert "serinus sandbox demo FAILED" in err and "serinus run exited with code -9" in err, err
    assert "last lines of the operator's log" in err and "serinus.operator" in err, err
    report = json.loads(report_path.read_text())
    assert report["ok"] is False and any("serinus run exited" in p for p in report["problems"])
    _assert_nothing_left(workdir, report)


def test_sigterm_stops_the_demo_and_everything_it_started(tmp_path: Path) -> None:
    workdir, report_path = tmp_path / "work", tmp_path / "report.json"
    demo = _start_demo(workdir, report_path)
    _wait_for_file(workdir / "canary.yaml", demo)
    demo.send_signal(signal.SIGTERM)
    out, err = demo.communicate(timeout=120)
    assert demo.returncode == 1, out + err
    report = json.loads(report_path.read_text())
    assert report["problems"] == ["interrupted"]
    _assert_nothing_left(workdir, report)
