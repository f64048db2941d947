"""The status round-trips exactly through its CRD dict, tolerates foreign input, and bounds its history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analysis.verdict import CheckResult, Range, Verdict
from controller.core.actions import SetWeights
from controller.core.status import (
    CHECKS_KEPT_PER_METRIC,
    CheckRecord,
    PendingRevert,
    Phase,
    QuarantineEntry,
    Revision,
    RollbackCause,
    Status,
    format_time,
    parse_time,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _full() -> Status:
    st = Status(
        phase=Phase.PROGRESSING,
        canary_weight=20,
        failed_checks=1,
        inconclusive_checks=2,
        iterations=3,
        current_revision=Revision("9f1c" * 10, "ghcr.io/acme/podinfo:6.1.0"),
        last_promoted_revision=Revision("77ab" * 10, "ghcr.io/acme/podinfo:6.0.3"),
        revert_commit="abc",
        quarantine=(QuarantineEntry("ghcr.io/acme/podinfo:6.0.9", "3-abc", "abc", "failed"),),
        last_transition_time=NOW,
        run_id="4-9f1c9f1c9f1c",
        run_count=4,
        last_check_time=NOW - timedelta(seconds=1),
        waiting_since=NOW.replace(microsecond=0),
        pre_rollout_done=True,
        promote_requested=True,
        suspended=True,
        pending_revert=PendingRevert(
            "3-abc", Revision("1", "a:1"), Revision("2", "a:2"), RollbackCause.MANUAL_ABORT, "aborted"
        ),
        handled_commit="def",
        manual_tokens={"abort": "t1", "promote": "t2"},
    )
    st = st.with_condition("Promoted", "Unknown", "Progressing", "analysing", NOW)
    return st.with_checks(
        [
            CheckRecord.of(
                CheckResult("request-success-rate", Verdict.FAIL, 97.2, Range(min=99), "q"), format_time(NOW)
            )
        ]
    )


def test_round_trip_is_exact() -> None:
    st = _full()
    raw = st.to_dict()
    assert Status.from_dict(raw) == st
    assert raw["phase"] == "Progressing" and raw["canaryWeight"] == 20
    assert raw["currentRevision"] == {"commit": "9f1c" * 10, "image": "ghcr.io/acme/podinfo:6.1.0"}
    assert raw["quarantinedImages"] == ["ghcr.io/acme/podinfo:6.0.9"]
    assert raw["checks"] == [
        {
            "time": "2026-03-01T12:00:00.123456Z",
            "metric": "request-success-rate",
            "query": "q",
            "range": {"min": 99},
            "verdict": "FAIL",
            "value": 97.2,
        }
    ]
    assert raw["conditions"] == [
        {
            "type": "Promoted",
            "status": "Unknown",
            "reason": "Progressing",
            "message": "analysing",
            "lastTransitionTime": "2026-03-01T12:00:00.123456Z",
        }
    ]


@pytest.mark.parametrize("raw", [None, {}, {"phase": ""}, {"phase": "Bogus"}])
def test_empty_or_unknown_status_is_a_new_canary(raw: dict[str, object] | None) -> None:
    assert Status.from_dict(raw).phase is Phase.INITIALIZING


def test_foreign_types_are_tolerated() -> None:
    st = Status.from_dict(
        {
            "phase": "Succeeded",
            "canaryWeight": "20",
            "failedChecks": True,
            "quarantinedImages": ["a:1", 3],
            "checks": [{"verdict": "MAYBE", "value": "x"}],
            "pendingRevert": {"revertId": "x"},
            "currentRevision": {"commit": "c"},
            "manualTokens": {"abort": 1, "retry": "t"},
        }
    )
    assert st.phase is Phase.SUCCEEDED and st.canary_weight == 0 and st.failed_checks == 0
    assert st.quarantined_images == ("a:1",) and st.checks[0].verdict is Verdict.ERROR
    assert st.pending_revert is None and st.current_revision is None and st.manual_tokens == {"retry": "t"}


def test_history_keeps_the_last_ten_per_metric() -> None:
    st = Status()
    for i in range(25):
        st = st.with_checks(
            [
                CheckRecord(time=str(i), metric="a", verdict=Verdict.PASS, value=float(i)),
                CheckRecord(time=str(i), metric="b", verdict=Verdict.PASS, value=float(i)),
            ]
        )
    by_metric = {m: [r.value for r in st.checks if r.metric == m] for m in ("a", "b")}
    assert by_metric["a"] == by_metric["b"] == [float(i) for i in range(15, 25)]
    assert len(st.checks) == 2 * CHECKS_KEPT_PER_METRIC


def test_condition_time_changes_only_with_its_status() -> None:
    st = Status().with_condition("Promoted", "True", "Succeeded", "one", NOW)
    later = st.with_condition("Promoted", "True", "Succeeded", "two", NOW + timedelta(hours=1))
    assert later.condition("Promoted") is not None
    assert (
        later.conditions[0].last_transition_time == format_time(NOW) and later.conditions[0].message == "two"
    )
    flipped = later.with_condition("Promoted", "False", "Failed", "three", NOW + timedelta(hours=2))
    assert flipped.conditions[0].last_transition_time == format_time(NOW + timedelta(hours=2))


@pytest.mark.parametrize(
    "text", ["2026-03-01T12:00:00Z", "2026-03-01T12:00:00.5Z", "2026-03-01T13:00:00+01:00"]
)
def test_times(text: str) -> None:
    moment = parse_time(text)
    assert moment.tzinfo is not None and parse_time(format_time(moment)) == moment


def test_weights_must_sum_to_100() -> None:
    with pytest.raises(ValueError, match="sum to 100"):
        SetWeights(50, 40)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        SetWeights(110, -10)
