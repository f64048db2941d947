"""The words ``serinus get`` and ``serinus explain`` print, and the manual controls they request.

Pins: the kubectl-like table (NAMESPACE only with -A, every column filled from status), explain naming
the phase, revision, weight and each recent check with value, range and verdict in plain words (why
it holds, why it failed), fresh tokens per control, and a clear error for a missing Canary.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from controller.operator.commands import (
    BadReference,
    NoSuchCanary,
    explain,
    parse_ref,
    request_control,
    table,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def canary(name: str, namespace: str = "shop", **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace},
            "spec": {"analysis": {"threshold": 3, "inconclusiveLimit": 5}}, "status": status}


RUNNING = canary(
    "podinfo", phase="Progressing", canaryWeight=20, failedChecks=1,
    currentRevision={"commit": "9f1c2ab77", "image": "ghcr.io/acme/podinfo:6.1.0"},
    lastPromotedRevision={"commit": "77ab0000", "image": "ghcr.io/acme/podinfo:6.0.3"},
    lastTransitionTime="2026-01-01T11:55:00Z",
    checks=[
        {"time": "2026-01-01T11:59:00Z", "metric": "request-success-rate", "verdict": "FAIL", "value": 97.2,
         "range": {"min": 99}, "query": "sum(rate(x[1m]))"},
        {"time": "2026-01-01T11:59:10Z", "metric": "p99", "verdict": "INCONCLUSIVE", "range": {"max": 500},
         "message": "no data", "query": "histogram_quantile(0.99, y)"},
    ],
)


def test_table_columns_and_namespace_only_with_all_namespaces() -> None:
    rows = table([RUNNING, canary("web", "other")], all_namespaces=True, now=NOW).splitlines()
    assert rows[0].split() == ["NAMESPACE", "NAME", "STATUS", "WEIGHT", "IMAGE", "LASTTRANSITION"]
    assert rows[2].split() == ["shop", "podinfo", "Progressing", "20", "ghcr.io/acme/podinfo:6.1.0", "5m"]
    assert rows[1].split() == ["other", "web", "-", "0", "-", "-"]
    single = table([RUNNING], all_namespaces=False, now=NOW).splitlines()
    assert single[0].split()[0] == "NAME"


def test_explain_says_why_in_words() -> None:
    text = explain(RUNNING, NOW)
    assert "Phase:     Progressing for 5m" in text
    assert "ghcr.io/acme/podinfo:6.1.0 (commit 9f1c2ab)" in text
    assert "20% to the canary, 80% to the primary" in text
    assert "1 failed of 3 tolerated" in text
    failed = "request-success-rate was 97.2, outside the accepted range (at least 99): counts as a failure"
    assert failed in text
    assert "p99 had no usable data (no data): the weight is held" in text
    assert "query: sum(rate(x[1m]))" in text


def test_explain_before_the_controller_saw_it() -> None:
    assert "not seen by the controller yet" in explain(canary("new"), NOW)


class Catalog:
    def __init__(self, *objs: dict[str, Any]) -> None:
        self.objs = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs}
        self.annotations: list[tuple[str, str, str, str]] = []

    def list(self, namespace: str | None) -> list[dict[str, Any]]:
        return [o for (ns, _), o in self.objs.items() if namespace in (None, ns)]

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objs.get((namespace, name))

    def annotate(self, namespace: str, name: str, key: str, value: str) -> None:
        self.annotations.append((namespace, name, key, value))


def test_controls_set_a_fresh_token_and_missing_canary_is_clear() -> None:
    catalog = Catalog(RUNNING)
    first = request_control(catalog, "shop", "podinfo", "promote")
    second = request_control(catalog, "shop", "podinfo", "promote")
    assert first != second
    assert catalog.annotations[0][:3] == ("shop", "podinfo", "serinus.dev/promote")
    with pytest.raises(NoSuchCanary, match="no Canary shop/absent"):
        request_control(catalog, "shop", "absent", "abort")
    with pytest.raises(BadReference):
        parse_ref("podinfo")
