"""Restart, back-off and readiness decisions of the process node.

Pins: ``restartPolicy`` decides which exits restart; the first restart after a crash is immediate and
later ones double up to the cap, with a fresh series after a long run; exit codes of signalled
processes read as a shell's (128 + N); readiness needs ``successThreshold`` successes and is lost
after ``failureThreshold`` failures, probes wait ``initialDelaySeconds`` and then come every period
(faster only until the first success).
"""

from __future__ import annotations

import pytest

from sandbox.node.podspec import ProbePlan, RestartPolicy
from sandbox.node.probes import Readiness
from sandbox.node.restarts import (
    BackOff,
    exit_code_of,
    image_waiting_reason,
    should_restart,
    terminated_reason,
)


@pytest.mark.parametrize(
    ("policy", "code", "restart"),
    [("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False), ("OnFailure", 2, True),
     ("Never", 0, False), ("Never", 1, False)],
)  # fmt: skip
def test_restart_policy(policy: RestartPolicy, code: int, restart: bool) -> None:
    assert should_restart(policy, code) is restart


def test_backoff_is_immediate_then_doubles_to_the_cap_and_resets_after_a_long_run() -> None:
    backoff = BackOff(initial=0.5, cap=4.0, reset_after=60.0)
    assert [backoff.delay(n) for n in range(1, 7)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0]
    assert backoff.crashes_in_a_row(3, ran_for=1.0) == 4
    assert backoff.crashes_in_a_row(3, ran_for=61.0) == 1


def test_exit_codes_and_reasons() -> None:
    assert exit_code_of(-15) == 143 and exit_code_of(-9) == 137 and exit_code_of(3) == 3
    assert terminated_reason(0) == "Completed" and terminated_reason(143) == "Error"
    assert image_waiting_reason(1) == "ErrImagePull" and image_waiting_reason(2) == "ImagePullBackOff"


def test_readiness_waits_for_the_initial_delay_then_probes_every_period() -> None:
    plan = ProbePlan("/healthz", None, initial_delay=2.0, period=10.0)
    readiness = Readiness(plan, started=100.0, first_interval=0.5)
    assert not readiness.due(101.0) and readiness.due(102.0)
    readiness.record(False, 102.0)
    assert not readiness.due(102.2) and readiness.due(102.5)  # faster until the first success
    assert readiness.record(True, 102.5) and readiness.ready
    assert not readiness.due(110.0) and readiness.due(112.5)  # then the period


def test_readiness_is_lost_after_failure_threshold_failures_and_needs_success_threshold() -> None:
    plan = ProbePlan("/healthz", None, period=1.0, failure_threshold=3, success_threshold=2)
    readiness = Readiness(plan, started=0.0, first_interval=None)
    assert not readiness.record(True, 0.0) and not readiness.ready
    assert readiness.record(True, 1.0) and readiness.ready
    readiness.record(False, 2.0)
    readiness.record(False, 3.0)
    assert readiness.ready
    assert readiness.record(False, 4.0) and not readiness.ready
    readiness.record(True, 5.0)
    assert not readiness.ready  # one success is not enough
