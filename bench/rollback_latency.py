"""Time from committing a bad image to the rollback decision, in the sandbox, against the budget.

Setting: the sandbox (real Envoy, real Prometheus scraping every 1 s, git daemon) and the production
controller (``serinus run``, ticking every 0.5 s, as ``serinus sandbox demo`` starts it). The Canary is
the demo's (Gateway API, built-in success-rate and duration metrics over a 10 s window, analysis
interval 5 s, Git polled every 2 s) with ``threshold: 1``, so the first FAIL verdict rolls back.

One round: with the Canary at rest and no canary traffic, commit ``demo/podinfo:1.2.0`` (20% of its
answers are errors) to the fleet repository, follow the Canary's status every 0.1 s until the run of
that commit is ``Failed``, wait for its revert commit and for the target to be scaled to 0, then
``serinus retry`` to lift the image's quarantine so that the next round can commit it again.

What is measured, per round (seconds, wall clock of this machine):

    latency = (Failed - commit) - (ready - applied)

- ``commit``: when the commit was written to the fleet repository (this process's clock);
- ``Failed``: ``status.lastTransitionTime`` of the ``Failed`` phase (the controller's clock, to the
  microsecond): the moment the rollback was decided;
- ``applied``: ``status.waitingSince`` of the run (set by the controller when it gave the target the
  new pod template and began waiting for it to be ready);
- ``ready``: the first poll that sees the run ``Progressing`` without ``waitingSince`` (the controller
  saw the target ready; this is up to one poll, 0.1 s, late, which makes ``latency`` at most that
  much shorter).

So ``latency`` covers Git detection, the start of the run, every check until the failing one and
the decision, but not the time the sandbox needed to start the bad version's processes (that is the
workload's, not Serinus's). The figures printed beside it: detection (commit to the run's
``Waiting`` phase; ``-`` when that short phase fell between two polls), readiness (excluded), and
analysis (ready to ``Failed``).

Budget: p95 of ``latency`` under 3 analysis intervals (15 s). Figures, never asserted in a test.

    python -m bench.rollback_latency [--rounds 5] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.core.durations import parse_duration
from controller.core.status import parse_time
from controller.operator import commands
from sandbox.demo import (
    ANALYSIS_INTERVAL,
    CANARY_GROUP,
    CANARY_VERSION,
    NAME,
    REPOSITORY,
    Fleet,
    Operator,
    canary_manifest,
)
from sandbox.session import Sandbox

BAD_IMAGE = f"{REPOSITORY}:1.2.0"
POLL = 0.1
ROUND_TIMEOUT = 120.0
BUDGET_INTERVALS = 3


class BenchError(RuntimeError):
    """A round did not go as the benchmark expects; the message says what was seen."""


@dataclass
class Round:
    """The timestamps of one round (seconds since the epoch) and the figures derived from them."""

    commit: float
    waiting: float | None  # None when the short Waiting phase fell between two polls
    applied: float
    ready: float
    failed: float

    @property
    def latency(self) -> float:
        """Commit to rollback decision, minus the target's readiness time."""
        return (self.failed - self.commit) - (self.ready - self.applied)

    def figures(self) -> dict[str, float]:
        """The figures printed per round (detection is NaN when the Waiting phase was not seen)."""
        detection = self.waiting - self.commit if self.waiting is not None else math.nan
        return {"latency": self.latency, "detection": detection,
                "readiness (excluded)": self.ready - self.applied, "analysis": self.failed - self.ready}


def _epoch(text: str) -> float:
    return parse_time(text).timestamp()


class Bench:
    """A sandbox, the controller and the Canary, and the rounds run against them."""

    def __init__(self, sandbox: Sandbox, operator: Operator) -> None:
        self.sandbox = sandbox
        self.operator = operator
        self.fleet = Fleet(sandbox.fleet_repo)
        self.catalog = commands.KubeCatalog(str(sandbox.kubeconfig))

    def status(self) -> dict[str, Any]:
        obj = self.sandbox.get(f"{CANARY_GROUP}/{CANARY_VERSION}", "Canary", NAME)
        return dict((obj or {}).get("status") or {})

    def wait(self, what: str, probe: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not probe():
            if self.operator.process is not None and self.operator.process.poll() is not None:
                raise BenchError(f"serinus run exited with code {self.operator.process.returncode}")
            if time.monotonic() > deadline:
                raise BenchError(f"gave up waiting {timeout:g}s for {what}; status: {self.status()}")
            time.sleep(POLL)

    def bootstrap(self) -> None:
        """Apply the target Deployment as Git declares it and the Canary (threshold 1); wait for it."""
        self.sandbox.apply(self.fleet.manifest())
        canary = canary_manifest(self.sandbox)
        canary["spec"]["analysis"]["threshold"] = 1
        self.sandbox.apply(canary)
        self.wait("the Canary to be Initialized", lambda: self.status().get("phase") == "Initialized")

    def at_rest(self) -> bool:
        """No run, no quarantine, the target scaled to 0 and not ready."""
        st = self.status()
        target = self.sandbox.get("apps/v1", "Deployment", NAME) or {}
        return (
            st.get("phase") in ("Initialized", "Succeeded", "Failed")
            and not st.get("quarantinedImages")
            and int(st.get("canaryWeight") or 0) == 0
            and (target.get("spec") or {}).get("replicas") == 0
            and not (target.get("status") or {}).get("readyReplicas")
        )

    def one_round(self) -> Round:
        """Commit the bad image and follow its run to ``Failed``; then put the Canary back at rest."""
        self.wait("the Canary to be at rest", self.at_rest)
        commit = self.fleet.commit_image(BAD_IMAGE)
        committed = time.time()
        waiting = applied = ready = failed = None
        deadline = time.monotonic() + ROUND_TIMEOUT
        while failed is None:
            if time.monotonic() > deadline:
                raise BenchError(f"no rollback of {commit[:10]} within {ROUND_TIMEOUT:g}s; "
                                 f"status: {self.status()}")
            st = self.status()
            mine = (st.get("currentRevision") or {}).get("commit") == commit
            phase = st.get("phase")
            if mine and phase == "Waiting" and waiting is None:
                waiting = _epoch(str(st["lastTransitionTime"]))
            if mine and phase == "Progressing":
                if st.get("waitingSince"):
                    applied = applied or _epoch(str(st["waitingSince"]))
                elif ready is None:
                    ready = time.time()
            if mine and phase == "Failed":
                failed = _epoch(str(st["lastTransitionTime"]))
            time.sleep(POLL)
        if applied is None or ready is None:
            raise BenchError(f"round not measurable: applied at {applied}, ready at {ready} "
                             "(a status between two polls was missed)")
        self.wait(f"the revert commit of {commit[:10]}", lambda: self.fleet.reverts_of(commit) is not None)
        commands.request_control(self.catalog, self.sandbox.namespace, NAME, "retry")
        return Round(committed, waiting, applied, ready, failed)


def _percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (with 5 rounds, p95 is the largest)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def main() -> int:
    """Run the rounds and print per-round figures, p50/p95 and the budget."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="kept afterwards (default: a new temporary directory)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rollback-bench-"))
    interval = parse_duration(ANALYSIS_INTERVAL)
    budget = BUDGET_INTERVALS * interval
    sandbox: Sandbox | None = None
    operator: Operator | None = None
    rounds: list[Round] = []
    print(f"rollback latency in the sandbox ({workdir}): interval {ANALYSIS_INTERVAL}, threshold 1, "
          f"{args.rounds} rounds of {BAD_IMAGE}", flush=True)
    try:
        sandbox = Sandbox.up(workdir)
        operator = Operator(sandbox, name="rollback-bench-operator").start()
        bench = Bench(sandbox, operator)
        bench.bootstrap()
        for i in range(args.rounds):
            result = bench.one_round()
            rounds.append(result)
            shown = ", ".join(f"{k} " + ("-" if math.isnan(v) else f"{v:.2f}s")
                              for k, v in result.figures().items())
            print(f"round {i + 1}: {shown}", flush=True)
    except BenchError as exc:
        print(f"stopped after {len(rounds)} rounds: {exc}", file=sys.stderr)
        if operator is not None:
            print(operator.tail(), file=sys.stderr)
    finally:
        if operator is not None:
            operator.stop()
        if sandbox is not None:
            sandbox.down()
    if not rounds:
        return 1
    latencies = [r.latency for r in rounds]
    p50, p95 = statistics.median(latencies), _percentile(latencies, 0.95)
    verdict = "ok" if p95 < budget else "OVER"
    print(f"latency over {len(rounds)} rounds: p50 {p50:.2f}s, p95 {p95:.2f}s, max {max(latencies):.2f}s; "
          f"budget p95 < {budget:g}s ({BUDGET_INTERVALS} intervals of {interval:g}s): {verdict}")
    return 0 if len(rounds) == args.rounds else 1


if __name__ == "__main__":
    sys.exit(main())
