"""The operator end to end in the sandbox on the real control plane: ``serinus run`` (unchanged, run as
the Helm chart runs it, as the chart's ServiceAccount under real RBAC) against kube-apiserver, its
Deployments run by kube-controller-manager and the process node, the real Envoy fed from the real
EndpointSlices carrying the traffic, the real Prometheus scraping it, the real ``git daemon`` holding
the fleet. (On the emulator the sandbox is covered by the demo, ``test_demo.py``, and ``sandbox_up``.)

Each test has its own namespace, app, Host and manifest in the fleet repository, and sends its own
traffic to its Host (:mod:`tests.e2e.operator_support`); the healthy and unhealthy runs share one
sandbox and one operator (module scope), the destructive one (Prometheus stopped) brings up its own.

Pinned: a healthy release goes 0 -> stepWeight ... -> maxWeight -> promoted with the split Envoy serves
and the split the traffic sees following each weight; an unhealthy one is rolled back after
``threshold`` failed checks, traffic back at 100/0 and one revert commit in Git; Prometheus stopped
mid-run holds the weight, pauses after ``inconclusiveLimit`` and reverts nothing (I5).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.processes import is_alive, stop_process
from sandbox.session import Sandbox
from tests.e2e.operator_support import (
    App,
    OperatorProcess,
    Split,
    StatusRecorder,
    WeightGate,
    image,
    measure,
    traffic_to,
)
from tests.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.real_control_plane]

GOOD_NS, BAD_NS, BLIND_NS = "e2e-good", "e2e-bad", "e2e-blind"
STEP, MAX = 20, 60
RPS = 200.0
WINDOW = 1000
"""Requests per measured weight. Each answer goes to the canary with probability w/100 (Envoy picks a
weighted cluster per request), so the canary share of n answers has standard deviation
100*sqrt(p(1-p)/n): at most 1.58 points for n = 1000 (p = 0.5). TOLERANCE is 6 points, over 3.8
standard deviations at every weight: a false failure has probability about 1.5e-4 per window."""
TOLERANCE = 6.0


@dataclass
class Stage:
    """The module's sandbox, its weight gate and one operator watching the module's namespaces."""

    sandbox: Sandbox
    gate: WeightGate
    operator: OperatorProcess


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    """A sandbox on the real control plane; the operator runs as the chart's ServiceAccount."""
    sandbox = Sandbox.up(tmp_path_factory.mktemp("operator-e2e"), rps=0,  # no traffic to the demo host
                         control_plane="kubernetes")  # fmt: skip
    gate = WeightGate(sandbox).start()
    operator = OperatorProcess(sandbox, [GOOD_NS, BAD_NS])
    try:
        operator.start()
        yield Stage(sandbox, gate, operator)
    finally:
        operator.stop()
        print(f"--- serinus run (last lines) ---\n{operator.tail(60)}")  # shown when a test fails
        gate.stop()
        sandbox.down()


def _initialized(app: App, operator: OperatorProcess) -> None:
    def ready() -> bool:
        operator.check_alive()
        return app.status().get("phase") == "Initialized" and app.route() == (100, 0)

    eventually(ready, f"{app.ref} to be Initialized with its HTTPRoute at 100/0", timeout=60)


def _std(weight: int, n: int) -> float:
    p = weight / 100
    return 100 * math.sqrt(p * (1 - p) / n)


def test_healthy_canary_steps_with_the_envoy_observed_split_and_is_promoted(stage: Stage) -> None:
    """A healthy image (``1.1.0``) goes 0 -> 20 -> 40 -> 60 -> promoted; at every weight Envoy serves
    ``(100-w, w)`` and the share of 1000 answers from the canary's version is within 6 points of ``w``
    (0 exactly at weight 0). Each step waits on a ``confirm-traffic-increase`` (and, at 60,
    ``confirm-promotion``) gate that opens only once the test has measured that weight, so no window
    straddles a step. At the end: Promoted=True, the primary runs 1.1.0, the target is at 0 replicas,
    the HTTPRoute and Envoy at 100/0, and every answer comes from 1.1.0 (served by the primary)."""
    begun = time.monotonic()
    app = App(stage.sandbox, GOOD_NS)
    app.deploy("1.0.0", webhooks=stage.gate.webhooks())
    _initialized(app, stage.operator)
    assert app.running_image("-primary") == image("1.0.0")

    splits: list[Split] = []
    with traffic_to(stage.sandbox, app.host, RPS) as traffic, StatusRecorder(app) as recorder:
        commit = app.commit("1.1.0")
        for weight in range(0, MAX + 1, STEP):

            def at_weight(w: int = weight) -> bool:
                stage.operator.check_alive()
                st = app.status()
                ready = (app.deployment().get("status") or {}).get("readyReplicas") or 0
                return ((st.get("currentRevision") or {}).get("commit") == commit
                        and st.get("phase") == "Progressing" and st.get("canaryWeight") == w and ready > 0
                        and app.route() == (100 - w, w))  # fmt: skip

            # The status records the step first, then the HTTPRoute follows.
            eventually(
                at_weight, f"the canary and its HTTPRoute at weight {weight}, the target ready", timeout=60
            )
            split = measure(app, traffic, weight, "1.1.0", WINDOW)
            splits.append(split)
            assert split.counts.by_status.get(200, 0) == split.answered, split.counts
            assert set(split.counts.by_version) <= {"1.0.0", "1.1.0"}, split.counts
            if weight == 0:
                assert split.canary_share == 0.0, split.counts
            assert abs(split.canary_share - weight) <= TOLERANCE, (
                f"at weight {weight}% the canary answered {split.canary_share:.1f}% of {split.answered}"
            )
            stage.gate.approve(app.ref, weight)

        def promoted() -> bool:
            stage.operator.check_alive()
            st = app.status()
            return (
                st.get("phase") == "Succeeded"
                and (st.get("lastPromotedRevision") or {}).get("commit") == commit
            )

        eventually(promoted, "the promotion of 1.1.0", timeout=60)
        assert app.condition("Promoted").get("status") == "True"
        assert app.running_image("-primary") == image("1.1.0")
        eventually(lambda: app.deployment()["spec"]["replicas"] == 0, "the target scaled to 0", timeout=30)
        assert app.route() == (100, 0)
        after = measure(app, traffic, 0, "1.1.0", WINDOW // 2)

    assert after.counts.by_version == {"1.1.0": after.answered}, after.counts
    assert recorder.weights() == [0, 20, 40, 60, 0], recorder.seen
    steps = [(c.hook, c.weight) for c in stage.gate.calls if c.canary == app.ref and c.opened]
    assert [w for _, w in steps] == [0, 20, 40, 60] and steps[-1][0] == "confirm-promotion", steps
    assert app.declared() == image("1.1.0") and app.revert_commits() == []  # I1, nothing reverted
    print(f"\nhealthy: {time.monotonic() - begun:.1f}s; weights in status {recorder.weights()}")
    for s in splits:
        print(f"  weight {s.weight:>2}%: canary {s.canary_share:5.1f}% of {s.answered} answers "
              f"(sd {_std(s.weight, s.answered):.2f}, by version {s.counts.by_version})")  # fmt: skip
    print(f"  after promotion: {after.counts.by_version}")


def test_unhealthy_canary_is_rolled_back_after_threshold_failures_and_reverted_in_git(stage: Stage) -> None:
    """An image answering 20% errors (``1.2.0``) is rolled back after ``threshold`` (2) FAIL checks of
    the built-in success rate (min 99%), never stepping past its first weight: phase Failed,
    Promoted=False naming the metric, the HTTPRoute and Envoy back at 100/0, not one 1.2.0 answer in
    a window of 500 requests after the rollback, the target at 0 replicas, and exactly one revert
    commit in the fleet repository (trailers naming the Canary and the reverted commit) leaving Git
    declaring what the primary runs (I1)."""
    begun = time.monotonic()
    app = App(stage.sandbox, BAD_NS)
    app.deploy("1.0.0", inconclusiveLimit=10)
    _initialized(app, stage.operator)

    with traffic_to(stage.sandbox, app.host, 100.0) as traffic, StatusRecorder(app) as recorder:
        during = traffic.window()
        bad = app.commit("1.2.0")

        def failed() -> bool:
            stage.operator.check_alive()
            st = app.status()
            return st.get("phase") == "Failed" and (st.get("currentRevision") or {}).get("commit") == bad

        eventually(failed, "the rollback of 1.2.0", timeout=90)
        seen_during = during.close()
        status = app.status()
        # The status (the intent) is written before the actions of the same tick are applied, so the
        # route reaches 100/0 just after the phase reads Failed.
        eventually(lambda: app.route() == (100, 0), "the route back at 100/0", timeout=10)
        eventually(lambda: app.deployment()["spec"]["replicas"] == 0, "the target scaled to 0", timeout=30)
        after = measure(app, traffic, 0, "1.2.0", 500)

    assert seen_during.by_version.get("1.2.0", 0) > 0, seen_during  # the canary did serve while it ran
    assert after.counts.by_version == {"1.0.0": after.answered}, after.counts
    assert status["failedChecks"] == 2
    fails = [c for c in status.get("checks") or [] if c.get("verdict") == "FAIL"]
    assert len(fails) == 2 and all(c["metric"] == "request-success-rate" and c["value"] < 99 for c in fails)
    promoted = app.condition("Promoted")
    assert promoted.get("status") == "False" and "request-success-rate" in promoted.get("message", "")
    assert recorder.weights() == [0, STEP, 0], recorder.seen  # held at the first step, then back to 0

    def reverted() -> list[tuple[str, str]]:
        return app.revert_commits()

    reverts = eventually(reverted, "the revert commit", timeout=30)
    assert len(reverts) == 1, reverts
    sha, message = reverts[0]
    assert f"Serinus-Reverts: {bad}" in message and message.startswith(f"serinus: revert {app.ref}")
    assert eventually(lambda: app.status().get("revertCommit"), "revertCommit in status", timeout=30) == sha
    assert app.head() == sha
    assert app.declared() == image("1.0.0") == app.running_image("-primary")  # I1
    assert image("1.2.0") in app.status().get("quarantinedImages", [])
    print(f"\nunhealthy: {time.monotonic() - begun:.1f}s; weights {recorder.weights()}; answers while it ran "
          f"{seen_during.by_version} (5xx {seen_during.failed}); after rollback {after.counts.by_version}; "
          f"FAIL values {[round(c['value'], 2) for c in fails]}; revert {sha[:10]}")  # fmt: skip


def test_prometheus_stopped_mid_run_holds_the_weight_pauses_and_reverts_nothing(tmp_path: Path) -> None:
    """With its own sandbox: a healthy run reaches its first step (20%) and, held there by the gate,
    passes a check; then the sandbox's Prometheus process is stopped (by the PID the sandbox
    recorded). Every later check is ERROR, none FAIL: the weight stays at 20 until ``inconclusiveLimit``
    (3) checks in a row, then traffic returns to the primary (HTTPRoute and Envoy at 100/0, not one
    1.1.0 answer in 300 requests) and the phase is Paused. Invariant I5: no failed check, no rollback,
    no revert: Git still declares 1.1.0, ``main`` is still the release commit, no revert commit,
    nothing quarantined; the primary keeps 1.0.0."""
    begun = time.monotonic()
    sandbox = Sandbox.up(tmp_path / "sandbox", rps=0, control_plane="kubernetes")
    gate = WeightGate(sandbox).start()
    operator = OperatorProcess(sandbox, [BLIND_NS])
    try:
        operator.start()
        app = App(sandbox, BLIND_NS)
        app.deploy("1.0.0", webhooks=gate.webhooks())
        _initialized(app, operator)
        gate.approve(app.ref, 0)  # the first step only: the run then holds at 20
        with traffic_to(sandbox, app.host, 100.0) as traffic, StatusRecorder(app) as recorder:
            commit = app.commit("1.1.0")

            def passed_at_step() -> bool:
                operator.check_alive()
                # the gate is asked only after every check passed
                return any(c.canary == app.ref and c.weight == STEP for c in gate.calls)

            eventually(passed_at_step, "a passing check at the first step", timeout=60)
            prometheus = sandbox.processes()["prometheus"]
            assert stop_process(prometheus), "the sandbox's Prometheus was not running"
            assert not is_alive(prometheus)
            stopped_at = len(recorder.seen)

            def paused() -> bool:
                operator.check_alive()
                return app.status().get("phase") == "Paused"

            eventually(paused, "the pause after inconclusiveLimit", timeout=60)
            status = app.status()
            after = measure(app, traffic, 0, "1.1.0", 300)  # waits for Envoy to serve 100/0 first
        while_blind = recorder.seen[stopped_at - 1 :]  # from the last sample before the stop

        assert (status.get("currentRevision") or {}).get("commit") == commit
        assert status["failedChecks"] == 0
        errors = [c for c in status.get("checks") or [] if c.get("verdict") == "ERROR"]
        assert len(errors) >= 3, status.get("checks")
        assert not [c for c in status.get("checks") or [] if c.get("verdict") == "FAIL"]
        # Held: from the stop until the pause the weight stayed at the step; only the pause set it to 0.
        held = [w for phase, w in while_blind if phase != "Paused"]
        assert held and set(held) == {STEP}, while_blind
        assert status["canaryWeight"] == 0 and app.route() == (100, 0)
        assert after.counts.by_version == {"1.0.0": after.answered}, after.counts
        assert recorder.weights() == [0, STEP, 0], recorder.seen
        # I5: nothing reverted.
        assert app.head() == commit and app.revert_commits() == []
        assert app.declared() == image("1.1.0")
        assert not status.get("revertCommit") and not status.get("quarantinedImages")
        assert app.running_image("-primary") == image("1.0.0")
    finally:
        operator.stop()
        print(f"--- serinus run (last lines) ---\n{operator.tail(60)}")
        gate.stop()
        sandbox.down()
    print(
        f"\nprometheus stopped: {time.monotonic() - begun:.1f}s; status while blind {while_blind}; "
        f"{len(errors)} ERROR checks; final phase {status['phase']}"
    )
