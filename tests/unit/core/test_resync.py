"""``controller.core.resync``: when a Canary at rest may reuse its last look, as a pure function."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from controller.core.observations import WorkloadState
from controller.core.resync import Look, look_stands, quiet_until, worth_keeping
from controller.core.status import PendingRevert, Phase, Revision, RollbackCause, Status

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DECLARED = Revision(commit="a" * 40, image="ghcr.io/acme/podinfo:6.0.3")
LOOK = Look(canary_version="41", declared=DECLARED, git_error="", at=T0,
            target=WorkloadState(exists=True, image=DECLARED.image),
            primary=WorkloadState(exists=True, image=DECLARED.image), mesh_weights=(100, 0))
PENDING = PendingRevert(revert_id="r1", to_revision=DECLARED,
                        failed_revision=Revision(commit="b" * 40, image="ghcr.io/acme/podinfo:6.1.0"),
                        cause=RollbackCause.FAILED_CHECKS, reason="failed")


def stands(status: Status, look: Look | None = LOOK, *, version: str = "41",
           declared: Revision | None = DECLARED, git_error: str = "", after: float = 5.0,
           resync: float = 30.0) -> bool:
    return look_stands(look, status, canary_version=version, declared=declared, git_error=git_error,
                       now=T0 + timedelta(seconds=after), resync=resync)


@pytest.mark.parametrize("phase", [Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED])
def test_at_rest_with_nothing_new_the_look_stands(phase: Phase) -> None:
    assert stands(Status(phase=phase))


@pytest.mark.parametrize("phase", sorted(set(Phase) - {Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED}))
def test_any_other_phase_looks_again(phase: Phase) -> None:
    assert not stands(Status(phase=phase))
    assert not worth_keeping(Status(phase=phase), acted=False)


@pytest.mark.parametrize(
    ("why", "kwargs"),
    [
        ("no look yet", {"look": None}),
        ("the Canary was written", {"version": "42"}),
        ("Git declares another commit", {"declared": replace(DECLARED, commit="c" * 40)}),
        ("Git became unreadable", {"declared": None, "git_error": "unreachable: timeout"}),
        ("resync passed", {"after": 30.0}),
        ("the clock went back", {"after": -1.0}),
        ("resync is off", {"resync": 0.0}),
    ],
)
def test_anything_new_looks_again(why: str, kwargs: dict[str, object]) -> None:
    assert stands(Status(phase=Phase.SUCCEEDED))
    assert not stands(Status(phase=Phase.SUCCEEDED), **kwargs), why  # type: ignore[arg-type]


def test_a_pending_revert_is_never_at_rest() -> None:
    status = Status(phase=Phase.FAILED, pending_revert=PENDING)
    assert not stands(status)
    assert not worth_keeping(status, acted=False)


def test_a_tick_that_acted_keeps_nothing() -> None:
    assert worth_keeping(Status(phase=Phase.SUCCEEDED), acted=False)
    assert not worth_keeping(Status(phase=Phase.SUCCEEDED), acted=True)


def test_quiet_until_the_look_expires_or_git_is_due_whichever_first() -> None:
    git_read = T0 + timedelta(seconds=10)
    assert quiet_until(LOOK, git_read_at=git_read, git_interval=60, resync=30) == T0 + timedelta(seconds=30)
    assert quiet_until(LOOK, git_read_at=git_read, git_interval=5, resync=30) == T0 + timedelta(seconds=15)
