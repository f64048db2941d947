"""The CLI parses every documented command and never pretends an unavailable one worked."""

from __future__ import annotations

import pytest

from controller import cli


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("run", "get", "explain", "promote", "abort", "retry", "suspend", "resume", "sandbox"):
        assert name in out


@pytest.mark.parametrize(
    "argv",
    [
        ["sandbox", "demo"],
    ],
)
def test_pending_commands_fail_loudly(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    assert "not yet available" in capsys.readouterr().err


def test_bad_reference_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["get", "pods"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
