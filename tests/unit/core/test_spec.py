"""Parsing Canary bodies: Flagger defaults for good specs, and every problem of a bad one with its path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from analysis.verdict import Range
from controller.core.durations import DurationError, format_duration, parse_duration
from controller.core.spec import (
    ObjectRef,
    RollbackGit,
    SpecError,
    Strategy,
    WebhookType,
    parse_canary,
)
from tests.unit.core.world import canary_body


def _errors(body: dict[str, Any], **kw: Any) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        parse_canary(body, **kw)
    return list(info.value.errors)


def _with(path: str, value: Any) -> dict[str, Any]:
    """The default body with one field set (``value=...`` deletes it when it is ``DELETE``)."""
    body = canary_body()
    node: Any = body
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    if value is DELETE:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value
    return body


DELETE = object()


def test_the_design_example_parses_with_its_values() -> None:
    body = canary_body(
        {
            "interval": "1m",
            "threshold": 5,
            "stepWeight": 10,
            "maxWeight": 50,
            "minRequests": 0,
            "inconclusiveLimit": 10,
            "metrics": [
                {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"},
                {
                    "name": "p99-latency",
                    "templateRef": {"name": "latency", "namespace": "shop"},
                    "templateVariables": {"quantile": "0.99"},
                    "thresholdRange": {"max": 500},
                },
            ],
            "webhooks": [
                {
                    "name": "load",
                    "type": "rollout",
                    "url": "http://loadtester/",
                    "timeout": "10s",
                    "metadata": {"cmd": "hey ..."},
                },
            ],
        },
        progressDeadlineSeconds=600,
        rollback={"git": "revert"},
    )
    body["spec"]["source"]["git"].update(
        {"container": "podinfo", "interval": "30s", "secretRef": {"name": "fleet-git"}}
    )
    spec = parse_canary(body)
    assert (spec.name, spec.namespace, spec.key) == ("podinfo", "shop", "shop/podinfo")
    assert spec.source.secret_ref == "fleet-git" and spec.source.interval == 30.0
    a = spec.analysis
    assert (a.interval, a.threshold, a.step_weight, a.max_weight, a.strategy) == (
        60.0,
        5,
        10,
        50,
        Strategy.CANARY,
    )
    assert a.metrics[0].builtin and a.metrics[0].threshold_range == Range(min=99)
    assert a.metrics[1].template_ref == ObjectRef("latency", "shop")
    assert a.metrics[1].template_variables == {"quantile": "0.99"}
    assert a.webhooks[0].type is WebhookType.ROLLOUT and a.webhooks[0].metadata == {"cmd": "hey ..."}
    assert spec.rollback.git is RollbackGit.REVERT and spec.service.gateway_refs == (
        ObjectRef("public", "gateway"),
    )


def test_defaults_follow_flagger() -> None:
    body = canary_body({"stepWeight": 10})
    spec = parse_canary(body)
    a = spec.analysis
    assert (a.interval, a.threshold, a.max_weight, a.iterations, a.min_requests, a.inconclusive_limit) == (
        60.0,
        1,
        100,
        0,
        0,
        10,
    )
    assert spec.progress_deadline_seconds == 60  # set by the fixture
    assert parse_canary(_with("spec.progressDeadlineSeconds", DELETE)).progress_deadline_seconds == 600
    assert spec.source.branch == "main" and spec.source.container == ""
    assert spec.service.target_port == 9898 and spec.rollback.git is RollbackGit.REVERT
    assert not spec.skip_analysis and not spec.suspend and not spec.revert_on_deletion


def test_webhook_type_defaults_to_rollout_and_timeout_to_10s() -> None:
    spec = parse_canary(canary_body({"stepWeight": 10, "webhooks": [{"name": "w", "url": "http://x/"}]}))
    assert spec.analysis.webhooks[0].type is WebhookType.ROLLOUT and spec.analysis.webhooks[0].timeout == 10.0


def test_default_provider_stands_in_for_an_absent_one() -> None:
    body = _with("spec.provider", DELETE)
    body["spec"]["service"].pop("gatewayRefs")
    assert parse_canary(body, default_provider="istio").provider == "istio"
    assert _errors(body) == [("spec.provider", "required (known: gatewayapi, istio, smi, nginx, kubernetes)")]


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("spec.analysis.stepWeight", 0, ("spec.analysis.stepWeight", "must be 1..100, got 0")),
        ("spec.analysis.stepWeight", 101, ("spec.analysis.stepWeight", "must be 1..100, got 101")),
        ("spec.analysis.stepWeight", "10", ("spec.analysis.stepWeight", "must be an integer, got a string")),
        ("spec.analysis.maxWeight", 0, ("spec.analysis.maxWeight", "must be 1..100, got 0")),
        ("spec.analysis.threshold", 0, ("spec.analysis.threshold", "must be >= 1, got 0")),
        ("spec.analysis.iterations", -1, ("spec.analysis.iterations", "must be >= 0, got -1")),
        ("spec.analysis.minRequests", -5, ("spec.analysis.minRequests", "must be >= 0, got -5")),
        ("spec.analysis.inconclusiveLimit", 0, ("spec.analysis.inconclusiveLimit", "must be >= 1, got 0")),
        ("spec.analysis.interval", "500ms", ("spec.analysis.interval", 'must be at least 1s, got "500ms"')),
        (
            "spec.analysis.interval",
            30,
            ("spec.analysis.interval", 'must be a duration string like "30s" or "1m", got a number'),
        ),
        (
            "spec.analysis.interval",
            "soon",
            (
                "spec.analysis.interval",
                '"soon" is not a duration; expected a number with a unit, like "30s", "1m" or "1h30m"',
            ),
        ),
        (
            "spec.provider",
            "foo",
            ("spec.provider", 'unknown provider "foo" (known: gatewayapi, istio, smi, nginx, kubernetes)'),
        ),
        ("spec.rollback.git", "reset", ("spec.rollback.git", 'must be "revert" or "none", got "reset"')),
        ("spec.progressDeadlineSeconds", 0, ("spec.progressDeadlineSeconds", "must be >= 1, got 0")),
        ("spec.skipAnalysis", "yes", ("spec.skipAnalysis", "must be true or false, got a string")),
        (
            "spec.targetRef.kind",
            "DaemonSet",
            ("spec.targetRef.kind", 'only Deployment is supported, got "DaemonSet"'),
        ),
        ("spec.targetRef.name", DELETE, ("spec.targetRef.name", "required")),
        ("spec.targetRef", DELETE, ("spec.targetRef", "required")),
        (
            "spec.source.git.url",
            "ftp://x/y.git",
            (
                "spec.source.git.url",
                'must start with one of https://, http://, ssh://, git://, file://, got "ftp://x/y.git"',
            ),
        ),
        (
            "spec.source.git.path",
            "../etc/passwd",
            (
                "spec.source.git.path",
                'must be a path inside the repository (relative, no ".."), got "../etc/passwd"',
            ),
        ),
        ("spec.source.git.path", DELETE, ("spec.source.git.path", "required")),
        ("spec.source.git.interval", "0s", ("spec.source.git.interval", 'must be at least 1s, got "0s"')),
        ("spec.source.git", DELETE, ("spec.source.git", "required")),
        ("spec.service.port", 70000, ("spec.service.port", "must be 1..65535, got 70000")),
        ("spec.service.port", DELETE, ("spec.service.port", "required")),
        ("spec.service.targetPort", 0, ("spec.service.targetPort", "must be 1..65535, got 0")),
        (
            "spec.service.gatewayRefs",
            [],
            (
                "spec.service.gatewayRefs",
                "required with provider gatewayapi (Gateways the HTTPRoute attaches to)",
            ),
        ),
        ("spec.service.gatewayRefs", [{"namespace": "g"}], ("spec.service.gatewayRefs[0].name", "required")),
        ("spec.analysis.metrics", {"name": "x"}, ("spec.analysis.metrics", "must be a list, got an object")),
        ("metadata.name", DELETE, ("metadata.name", "required")),
    ],
)
def test_one_bad_field_gives_one_precise_error(path: str, value: Any, error: tuple[str, str]) -> None:
    assert _errors(_with(path, value)) == [error]


@pytest.mark.parametrize(
    ("analysis", "provider", "error"),
    [
        (
            {"stepWeight": 10, "stepWeights": [10, 20]},
            "istio",
            ("spec.analysis.stepWeights", "stepWeight and stepWeights are mutually exclusive; set one"),
        ),
        (
            {"stepWeights": [10, 10]},
            "istio",
            ("spec.analysis.stepWeights[1]", "must be greater than the previous step (10), got 10"),
        ),
        (
            {"stepWeights": [5, 50, 20]},
            "istio",
            ("spec.analysis.stepWeights[2]", "must be greater than the previous step (50), got 20"),
        ),
        ({"stepWeights": [0, 10]}, "istio", ("spec.analysis.stepWeights[0]", "must be 1..100, got 0")),
        ({"stepWeights": [10, 120]}, "istio", ("spec.analysis.stepWeights[1]", "must be 1..100, got 120")),
        ({"stepWeights": []}, "istio", ("spec.analysis.stepWeights", "must not be empty")),
        (
            {"stepWeights": [10, 20], "maxWeight": 50},
            "istio",
            (
                "spec.analysis.maxWeight",
                "with stepWeights the last step (20) is the maximum; "
                "remove maxWeight or set it to 20, got 50",
            ),
        ),
        (
            {"stepWeight": 60, "maxWeight": 50},
            "istio",
            ("spec.analysis.stepWeight", "must not exceed maxWeight (50), got 60"),
        ),
        (
            {"interval": "1m"},
            "istio",
            (
                "spec.analysis",
                "set stepWeight or stepWeights (canary), iterations (blue/green), "
                "or match with iterations (A/B)",
            ),
        ),
        (
            {"stepWeight": 10, "iterations": 5},
            "istio",
            (
                "spec.analysis.iterations",
                "iterations select blue/green (or A/B with match); "
                "they cannot be combined with stepWeight/stepWeights",
            ),
        ),
        (
            {"stepWeight": 10},
            "kubernetes",
            (
                "spec.analysis.stepWeight",
                "provider kubernetes switches Services (blue/green only): "
                "use iterations, without weights or match",
            ),
        ),
        (
            {"match": [{"headers": {"x": {"exact": "1"}}}]},
            "istio",
            ("spec.analysis.iterations", "A/B testing (match) counts iterations; set iterations > 0"),
        ),
        (
            {"match": [{"headers": {"x": {"exact": "1"}}}], "iterations": 5},
            "smi",
            (
                "spec.analysis.match",
                "A/B matches need a provider that routes by header or cookie "
                '(istio, gatewayapi, nginx), got "smi"',
            ),
        ),
        (
            {"match": [{}], "iterations": 5},
            "istio",
            ("spec.analysis.match[0]", "must be a non-empty object (headers, cookies, queryParams, ...)"),
        ),
        (
            {"stepWeight": 10, "metrics": [{"name": "p99", "thresholdRange": {"max": 5}}]},
            "istio",
            (
                "spec.analysis.metrics[0].templateRef",
                'required: "p99" is not a built-in metric (request-success-rate, request-duration)',
            ),
        ),
        (
            {"stepWeight": 10, "metrics": [{"name": "request-duration", "thresholdRange": {}}]},
            "istio",
            ("spec.analysis.metrics[0].thresholdRange", "needs min or max"),
        ),
        (
            {"stepWeight": 10, "metrics": [{"name": "request-duration"}]},
            "istio",
            ("spec.analysis.metrics[0].thresholdRange", "required"),
        ),
        (
            {
                "stepWeight": 10,
                "metrics": [{"name": "request-duration", "thresholdRange": {"min": 5, "max": 1}}],
            },
            "istio",
            ("spec.analysis.metrics[0].thresholdRange", "min (5) is greater than max (1)"),
        ),
        (
            {
                "stepWeight": 10,
                "metrics": [
                    {"name": "request-duration", "thresholdRange": {"max": 5}},
                    {"name": "request-duration", "thresholdRange": {"max": 9}},
                ],
            },
            "istio",
            ("spec.analysis.metrics[1].name", 'duplicate metric name "request-duration"'),
        ),
        (
            {"stepWeight": 10, "webhooks": [{"name": "w", "type": "pre-flight", "url": "http://x/"}]},
            "istio",
            (
                "spec.analysis.webhooks[0].type",
                'unknown webhook type "pre-flight" (known: confirm-rollout, pre-rollout, rollout, '
                "confirm-traffic-increase, confirm-promotion, post-rollout, rollback, event)",
            ),
        ),
        (
            {"stepWeight": 10, "webhooks": [{"name": "w", "url": "loadtester"}]},
            "istio",
            ("spec.analysis.webhooks[0].url", 'must be an http:// or https:// URL, got "loadtester"'),
        ),
        (
            {"stepWeight": 10, "webhooks": [{"name": "w", "url": "http://x/", "timeout": "forever"}]},
            "istio",
            (
                "spec.analysis.webhooks[0].timeout",
                '"forever" is not a duration; expected a number with a unit, like "30s", "1m" or "1h30m"',
            ),
        ),
        (
            {"stepWeight": 10, "webhooks": [{"name": "w", "url": "http://x/", "metadata": {"n": [1]}}]},
            "istio",
            ("spec.analysis.webhooks[0].metadata.n", "must be a string, got a list"),
        ),
    ],
)
def test_cross_field_rules(analysis: dict[str, Any], provider: str, error: tuple[str, str]) -> None:
    body = canary_body(analysis, provider=provider)
    assert _errors(body) == [error]


def test_all_errors_are_reported_not_just_the_first() -> None:
    body = canary_body(
        {"stepWeight": 0, "threshold": -1, "interval": "x"}, provider="foo", rollback={"git": "?"}
    )
    body["spec"]["service"]["port"] = 0
    errors = _errors(body)
    assert [path for path, _ in errors] == [
        "spec.provider",
        "spec.service.port",
        "spec.analysis.interval",
        "spec.analysis.threshold",
        "spec.analysis.stepWeight",
        "spec.rollback.git",
    ]
    with pytest.raises(SpecError, match=r"spec.provider: unknown provider \"foo\".*; spec.service.port"):
        parse_canary(body)


def test_blue_green_and_ab_strategies() -> None:
    bg = parse_canary(canary_body({"iterations": 5}, provider="kubernetes"))
    assert bg.analysis.strategy is Strategy.BLUE_GREEN
    ab = parse_canary(
        canary_body({"iterations": 5, "match": [{"headers": {"x": {"exact": "1"}}}]}, provider="nginx")
    )
    assert ab.analysis.strategy is Strategy.AB_TESTING


def test_body_is_not_modified() -> None:
    body = canary_body()
    before = copy.deepcopy(body)
    parse_canary(body)
    assert body == before


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("1m", 60.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        ("0", 0.0),
        ("2m30s", 150.0),
        ("100us", 0.0001),
        (" 10s ", 10.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "30", "1d", "m", "1h 30m", "-1s", "1s2", "s1"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(90, "1m30s"), (0.5, "500ms"), (3600, "1h"), (0, "0s"), (5430, "1h30m30s")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)
