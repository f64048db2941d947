"""The CLI parses every documented command and never pretends an unavailable one worked."""

from __future__ import annotations

import argparse

import pytest

from controller import cli


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("run", "get", "explain", "promote", "abort", "retry", "suspend", "resume", "sandbox"):
        assert name in out


def test_pending_commands_fail_loudly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(cli._PENDING, "frobnicate", "a later issue")
    assert cli._pending("frobnicate")(argparse.Namespace()) == 2
    assert "not yet available; it lands with a later issue" in capsys.readouterr().err


def test_bad_reference_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["get", "pods"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
