"""The Canary CRD declares every status field the core writes.

The API server prunes undeclared fields from a custom resource, so a status field missing from the
schema would silently vanish on write and break resuming after a restart (invariant I2).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from controller.core.status import Status
from sandbox.apiserver import schema as S
from tests.unit.crds.test_crds import CANARY_SCHEMA

ROOT = Path(__file__).resolve().parents[3]

FULL_STATUS: dict[str, Any] = {
    "phase": "Progressing",
    "canaryWeight": 20,
    "failedChecks": 1,
    "inconclusiveChecks": 2,
    "iterations": 3,
    "revertCommit": "",
    "quarantinedImages": ["demo/podinfo:1.2.0"],
    "quarantine": [
        {"image": "demo/podinfo:1.2.0", "runId": "run-2", "commit": "b" * 40, "reason": "failed checks"}
    ],
    "conditions": [
        {
            "type": "Promoted",
            "status": "Unknown",
            "reason": "Progressing",
            "message": "canary at 20%",
            "lastTransitionTime": "2026-11-21T10:00:00Z",
        }
    ],
    "checks": [
        {
            "time": "2026-11-21T10:00:00Z",
            "metric": "request-success-rate",
            "query": "sum(rate(x[1m]))",
            "range": {"min": 99.0},
            "verdict": "FAIL",
            "value": 97.5,
            "message": "97.5 is below 99",
        }
    ],
    "runId": "run-3",
    "runCount": 3,
    "preRolloutDone": True,
    "promoteRequested": False,
    "suspended": False,
    "handledCommit": "c" * 40,
    "manualTokens": {"abort": "2026-11-21T09:00:00Z"},
    "currentRevision": {"commit": "c" * 40, "image": "demo/podinfo:1.3.0"},
    "lastPromotedRevision": {"commit": "a" * 40, "image": "demo/podinfo:1.1.0"},
    "lastTransitionTime": "2026-11-21T10:00:00Z",
    "lastCheckTime": "2026-11-21T10:00:00Z",
    "waitingSince": "2026-11-21T09:59:00Z",
    "pendingRevert": {
        "revertId": "run-3",
        "toRevision": {"commit": "a" * 40, "image": "demo/podinfo:1.1.0"},
        "failedRevision": {"commit": "c" * 40, "image": "demo/podinfo:1.3.0"},
        "cause": "failed-checks",
        "reason": "request-success-rate 97.5 below 99",
    },
}


def test_the_sample_status_round_trips_through_the_core() -> None:
    """The sample exercises every field of the core's status (so the next test covers them all)."""
    assert Status.from_dict(FULL_STATUS).to_dict() == FULL_STATUS


def test_every_status_field_survives_pruning_and_validation() -> None:
    """A status written by the core is stored unchanged: nothing pruned, nothing invalid."""
    canary = yaml.safe_load((ROOT / "examples" / "canary-gatewayapi.yaml").read_text())
    canary["status"] = copy.deepcopy(FULL_STATUS)
    dropped = S.prune(CANARY_SCHEMA, canary)
    assert dropped == []
    assert canary["status"] == FULL_STATUS
    assert S.validate(CANARY_SCHEMA, canary) == []


def test_an_undeclared_status_field_would_be_pruned() -> None:
    """The guard above can fail: the API server drops a status field the schema does not declare."""
    canary = yaml.safe_load((ROOT / "examples" / "canary-gatewayapi.yaml").read_text())
    canary["status"] = {"phase": "Progressing", "notInTheSchema": 1}
    assert S.prune(CANARY_SCHEMA, canary) == ["status.notInTheSchema"]
