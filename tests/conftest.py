"""Suite-wide hooks: the summary counts the tests that ran on the real Kubernetes control plane.

A test is on it when it carries the ``real_control_plane`` mark: set by the modules that only run there
and by the ``kubernetes`` parameter of the fixtures that run a test on both servers
(:data:`sandbox.kubernetes.testing.ON_KUBERNETES`).
"""

from __future__ import annotations

from collections import Counter

import pytest

_outcomes: Counter[str] = Counter()
_real: set[str] = set()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    _real.update(item.nodeid for item in items if item.get_closest_marker("real_control_plane"))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _real:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _outcomes["error" if report.when == "setup" and report.failed else report.outcome] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _real:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(_outcomes.items())) or "none run"
        terminalreporter.write_line(f"on the real control plane (Kubernetes v1.37.2): {counts}")
