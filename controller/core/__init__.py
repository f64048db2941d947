"""The pure core: spec model, parsing, step weights, the run's state machine and its actions.

Nothing here does I/O or imports kopf, kubernetes, git, requests or prometheus_api_client; the
import-linter contracts in ``pyproject.toml`` enforce it.
"""

from controller.core.actions import (
    Action,
    ApplyRevision,
    CallWebhooks,
    EmitEvent,
    EnsurePrimary,
    EnsureServices,
    Finalize,
    PromotePrimary,
    PushRevert,
    ScaleTarget,
    SetWeights,
)
from controller.core.decide import TRANSITIONS, Decision, Event, Transition, classify, decide, needs
from controller.core.durations import DurationError, format_duration, parse_duration
from controller.core.observations import (
    ManualAction,
    ManualRequest,
    Needs,
    Observations,
    RevertOutcome,
    WebhookResult,
    WorkloadState,
)
from controller.core.spec import (
    AnalysisSpec,
    CanarySpec,
    GitSource,
    MetricSpec,
    ServiceSpec,
    SpecError,
    Strategy,
    WebhookSpec,
    WebhookType,
    parse_canary,
)
from controller.core.status import Phase, Revision, RollbackCause, Status
from controller.core.weights import is_final_step, next_weight, step_plan

__all__ = [
    "TRANSITIONS",
    "Action",
    "AnalysisSpec",
    "ApplyRevision",
    "CallWebhooks",
    "CanarySpec",
    "Decision",
    "DurationError",
    "EmitEvent",
    "EnsurePrimary",
    "EnsureServices",
    "Event",
    "Finalize",
    "GitSource",
    "ManualAction",
    "ManualRequest",
    "MetricSpec",
    "Needs",
    "Observations",
    "Phase",
    "PromotePrimary",
    "PushRevert",
    "RevertOutcome",
    "Revision",
    "RollbackCause",
    "ScaleTarget",
    "ServiceSpec",
    "SetWeights",
    "SpecError",
    "Status",
    "Strategy",
    "Transition",
    "WebhookResult",
    "WebhookSpec",
    "WebhookType",
    "WorkloadState",
    "classify",
    "decide",
    "format_duration",
    "is_final_step",
    "needs",
    "next_weight",
    "parse_canary",
    "parse_duration",
    "step_plan",
]
