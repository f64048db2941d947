"""``serinus run`` flags become a ``RunConfig``; bad durations are refused naming the flag."""

from __future__ import annotations

import pytest

from controller.cli import build_parser
from controller.operator.runtime import ConfigError, RunConfig


def config(*flags: str) -> RunConfig:
    return RunConfig.from_args(build_parser().parse_args(["run", *flags]))


def test_defaults_tick_2s_and_resync_30s() -> None:
    got = config()
    assert (got.tick, got.resync) == (2.0, 30.0)


def test_durations_are_go_durations_and_resync_may_be_zero() -> None:
    got = config("--tick", "500ms", "--resync", "1m30s")
    assert (got.tick, got.resync) == (0.5, 90.0)
    assert config("--resync", "0").resync == 0.0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--resync", "30"), '--resync: "30" is not a duration'),
        (("--tick", "fast"), '--tick: "fast" is not a duration'),
        (("--tick", "0"), "--tick must be positive"),
    ],
)
def test_bad_durations_name_the_flag(flags: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(*flags)
