"""`helm lint` (the real helm) passes on the default values and, with --strict, on a combination that
sets every value; it fails, naming the value, on values the schema refuses."""

from __future__ import annotations

from tests.unit.chart.helm import COMBINATIONS, lint


def test_lint_passes_with_the_default_values() -> None:
    proc = lint()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in proc.stdout
    assert "[ERROR]" not in proc.stdout and "[WARNING]" not in proc.stdout


def test_strict_lint_passes_with_every_value_set() -> None:
    proc = lint(COMBINATIONS["everything"], strict=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[ERROR]" not in proc.stdout and "[WARNING]" not in proc.stdout


def test_strict_lint_passes_for_a_single_cluster_wide_controller() -> None:
    values = {
        "clusterWide": True,
        "leaderElection": {"enabled": False},
        "replicaCount": 1,
        "providers": {"gatewayapi": True, "istio": True, "smi": True, "nginx": True},
    }
    proc = lint(values, strict=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lint_fails_on_a_value_the_schema_refuses() -> None:
    proc = lint({"git": {"author": "no email", "cacheDir": "/c", "webhook": {"envName": "X"}}}, strict=True)
    assert proc.returncode != 0
    assert "git.author: Does not match pattern" in proc.stdout
