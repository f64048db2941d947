"""The Canary and MetricTemplate CRDs: structural, complete, and enforcing the documented rules.

Every example in `examples/` is admitted unchanged (no unknown field, no error); the API server's
defaults are the documented ones; each bad Canary in the table fails with exactly one error at the
right field path with the right reason, the way kube-apiserver would report it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.apiserver import schema as S

ROOT = Path(__file__).resolve().parents[3]
CRD_FILES = {
    "Canary": ROOT / "crds" / "canaries.serinus.dev.yaml",
    "MetricTemplate": ROOT / "crds" / "metrictemplates.serinus.dev.yaml",
}
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def load_crd(kind: str) -> dict[str, Any]:
    with CRD_FILES[kind].open() as handle:
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded


CANARY_SCHEMA = S.schema_of(load_crd("Canary"), "v1alpha1")
TEMPLATE_SCHEMA = S.schema_of(load_crd("MetricTemplate"), "v1alpha1")
SCHEMAS = {"Canary": CANARY_SCHEMA, "MetricTemplate": TEMPLATE_SCHEMA}


def walk(node: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, node
    for key, sub in (node.get("properties") or {}).items():
        yield from walk(sub, f"{path}.{key}")
    for word in ("items", "additionalProperties"):
        if isinstance(node.get(word), Mapping):
            yield from walk(node[word], f"{path}.{word}")


# --- the CRDs themselves -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CRD_FILES))
def test_crd_is_accepted_and_structural(kind: str) -> None:
    crd = load_crd(kind)
    assert S.validate_crd(crd, check_cel=True) == []
    assert crd["spec"]["group"] == "serinus.dev"
    assert crd["spec"]["scope"] == "Namespaced"
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)


@pytest.mark.parametrize("kind", sorted(CRD_FILES))
def test_every_node_is_typed_and_described(kind: str) -> None:
    untyped = []
    undescribed = []
    for path, node in walk(SCHEMAS[kind]):
        if not node.get("type") and not node.get("x-kubernetes-int-or-string"):
            untyped.append(path)
        if path != ".metadata" and not node.get("description"):
            undescribed.append(path)
    assert untyped == []
    assert undescribed == []


def test_preserve_unknown_fields_is_used_nowhere() -> None:
    """String maps are declared with additionalProperties, so nothing escapes validation."""
    for kind, schema in SCHEMAS.items():
        assert [p for p, n in walk(schema) if n.get("x-kubernetes-preserve-unknown-fields")] == [], kind


def test_canary_names_printer_columns_and_status_subresource() -> None:
    crd = load_crd("Canary")
    names = crd["spec"]["names"]
    assert names["shortNames"] == ["cn"]
    assert names["categories"] == ["serinus"]
    (version,) = crd["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: (c["type"], c["jsonPath"]) for c in version["additionalPrinterColumns"]}
    assert columns["Status"] == ("string", ".status.phase")
    assert columns["Weight"] == ("integer", ".status.canaryWeight")
    assert columns["Image"] == ("string", ".status.currentRevision.image")
    assert columns["LastTransition"] == ("date", ".status.lastTransitionTime")
    default_columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert default_columns == ["Status", "Weight", "Image", "LastTransition"]


def test_metrictemplate_names() -> None:
    names = load_crd("MetricTemplate")["spec"]["names"]
    assert (names["kind"], names["plural"], names["shortNames"], names["categories"]) == (
        "MetricTemplate",
        "metrictemplates",
        ["mt"],
        ["serinus"],
    )


def test_enums_match_the_design() -> None:
    spec = CANARY_SCHEMA["properties"]["spec"]["properties"]
    status = CANARY_SCHEMA["properties"]["status"]["properties"]
    webhook = spec["analysis"]["properties"]["webhooks"]["items"]["properties"]
    assert spec["provider"]["enum"] == ["gatewayapi", "istio", "smi", "nginx", "kubernetes"]
    assert webhook["type"]["enum"] == [
        "confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase",
        "confirm-promotion", "post-rollout", "rollback", "event",
    ]  # fmt: skip
    assert spec["rollback"]["properties"]["git"]["enum"] == ["revert", "none"]
    assert len(status["phase"]["enum"]) == 12
    verdict = status["checks"]["items"]["properties"]["verdict"]
    assert verdict["enum"] == ["PASS", "FAIL", "INCONCLUSIVE", "ERROR"]


def test_conditions_have_the_metav1_condition_shape() -> None:
    conditions = CANARY_SCHEMA["properties"]["status"]["properties"]["conditions"]
    item = conditions["items"]
    assert sorted(item["required"]) == ["lastTransitionTime", "message", "reason", "status", "type"]
    assert item["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]


# --- examples ----------------------------------------------------------------------------------


def test_there_are_examples_for_every_strategy() -> None:
    providers = set()
    kinds = set()
    for path in EXAMPLES:
        obj = yaml.safe_load(path.read_text())
        kinds.add(obj["kind"])
        if obj["kind"] == "Canary":
            providers.add(obj["spec"]["provider"])
    assert kinds == {"Canary", "MetricTemplate"}
    assert {"gatewayapi", "istio", "smi", "kubernetes"} <= providers


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_admitted_unchanged(path: Path) -> None:
    obj = yaml.safe_load(path.read_text())
    written = copy.deepcopy(obj)
    unknown, errors = S.admit(SCHEMAS[obj["kind"]], obj)
    assert unknown == []
    assert [str(e) for e in errors] == []
    # defaulting only adds: everything the example says is kept as written
    assert _contains(obj, written)


def _contains(big: Any, small: Any) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and _contains(big[k], v) for k, v in small.items())
    if isinstance(small, list):
        return isinstance(big, list) and len(big) == len(small) and all(map(_contains, big, small))
    return bool(big == small)


# --- defaulting and pruning --------------------------------------------------------------------


def minimal_canary() -> dict[str, Any]:
    return {
        "apiVersion": "serinus.dev/v1alpha1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "shop"},
        "spec": {
            "targetRef": {"kind": "Deployment", "name": "podinfo"},
            "source": {"git": {"url": "https://git.example.com/fleet.git", "path": "apps/podinfo.yaml"}},
            "service": {"port": 9898, "gatewayRefs": [{"name": "public"}]},
            "analysis": {
                "stepWeight": 10,
                "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}],
                "webhooks": [{"name": "load", "url": "http://loadtester/"}],
            },
        },
    }


def test_defaults_are_the_documented_ones() -> None:
    canary = minimal_canary()
    S.apply_defaults(CANARY_SCHEMA, canary)
    spec = canary["spec"]
    assert spec["targetRef"]["apiVersion"] == "apps/v1"
    assert spec["source"]["git"]["branch"] == "main"
    assert spec["source"]["git"]["interval"] == "1m"
    assert spec["provider"] == "gatewayapi"
    assert spec["service"]["portName"] == "http"
    analysis = spec["analysis"]
    assert (analysis["interval"], analysis["threshold"], analysis["inconclusiveLimit"]) == ("1m", 1, 10)
    assert analysis["minRequests"] == 0
    assert analysis["metrics"][0]["interval"] == "1m"
    assert (analysis["webhooks"][0]["type"], analysis["webhooks"][0]["timeout"]) == ("rollout", "10s")
    assert spec["progressDeadlineSeconds"] == 600
    assert (spec["skipAnalysis"], spec["suspend"], spec["revertOnDeletion"]) == (False, False, False)
    assert spec["rollback"] == {"git": "revert"}  # nested default inside the defaulted object
    for absent in ("maxWeight", "iterations", "stepWeights"):
        assert absent not in analysis
    assert "status" not in canary
    assert S.validate(CANARY_SCHEMA, canary) == []


def test_defaults_never_override_what_is_written() -> None:
    canary = minimal_canary()
    canary["spec"]["provider"] = "istio"
    canary["spec"]["rollback"] = {"git": "none"}
    canary["spec"]["analysis"]["threshold"] = 7
    S.apply_defaults(CANARY_SCHEMA, canary)
    assert canary["spec"]["provider"] == "istio"
    assert canary["spec"]["rollback"] == {"git": "none"}
    assert canary["spec"]["analysis"]["threshold"] == 7


def test_ingress_ref_defaults() -> None:
    canary = minimal_canary()
    canary["spec"]["ingressRef"] = {"name": "podinfo"}
    S.apply_defaults(CANARY_SCHEMA, canary)
    assert canary["spec"]["ingressRef"] == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "name": "podinfo",
    }


def test_metrictemplate_defaults() -> None:
    template: dict[str, Any] = {
        "apiVersion": "serinus.dev/v1alpha1",
        "kind": "MetricTemplate",
        "metadata": {"name": "latency"},
        "spec": {"provider": {"type": "prometheus", "address": "http://prom:9090"}, "query": "up"},
    }
    S.apply_defaults(TEMPLATE_SCHEMA, template)
    assert template["spec"]["provider"]["timeout"] == "5s"
    assert template["spec"]["provider"]["insecureSkipVerify"] is False


def test_pruning_drops_unknown_fields_and_keeps_string_maps() -> None:
    canary = minimal_canary()
    canary["spec"]["canaryAnalysis"] = {"interval": "1m"}  # Flagger's old field name
    canary["spec"]["analysis"]["metrics"][0]["query"] = "up"
    canary["spec"]["analysis"]["webhooks"][0]["metadata"] = {"cmd": "hey", "anything": "goes"}
    canary["metadata"]["bogus"] = 1
    canary["status"] = {"phase": "Progressing", "lastAppliedSpec": "abc"}
    unknown = S.prune(CANARY_SCHEMA, canary)
    assert unknown == [
        "metadata.bogus",
        "spec.analysis.metrics[0].query",
        "spec.canaryAnalysis",
        "status.lastAppliedSpec",
    ]
    assert "canaryAnalysis" not in canary["spec"]
    assert canary["spec"]["analysis"]["webhooks"][0]["metadata"] == {"cmd": "hey", "anything": "goes"}
    assert canary["status"] == {"phase": "Progressing"}
    assert canary["apiVersion"] == "serinus.dev/v1alpha1" and canary["kind"] == "Canary"


# A status as the controller writes it during a run (a check without a value is INCONCLUSIVE).
CONTROLLER_STATUS: dict[str, Any] = {
    "observedGeneration": 3,
    "phase": "Progressing",
    "canaryWeight": 20,
    "failedChecks": 1,
    "inconclusiveChecks": 0,
    "iterations": 0,
    "currentRevision": {"commit": "9f1c2d3", "image": "ghcr.io/acme/podinfo:6.1.0"},
    "lastPromotedRevision": {"commit": "77ab001", "image": "ghcr.io/acme/podinfo:6.0.3"},
    "revertCommit": "",
    "quarantinedImages": ["ghcr.io/acme/podinfo:6.0.9"],
    "lastTransitionTime": "2024-05-01T10:00:00Z",
    "lastCheckTime": "2024-05-01T10:01:00Z",
    "conditions": [
        {
            "type": "Promoted",
            "status": "Unknown",
            "reason": "Progressing",
            "message": "canary weight 20",
            "lastTransitionTime": "2024-05-01T10:00:00Z",
        }
    ],
    "checks": [
        {
            "time": "2024-05-01T10:01:00Z",
            "metric": "request-success-rate",
            "query": "sum(...)",
            "value": 97.2,
            "range": {"min": 99},
            "verdict": "FAIL",
        },
        {"time": "2024-05-01T10:02:00Z", "metric": "p99", "value": None, "verdict": "INCONCLUSIVE"},
    ],
}


def test_status_written_by_the_controller_validates() -> None:
    canary = minimal_canary()
    canary["status"] = copy.deepcopy(CONTROLLER_STATUS)
    unknown, errors = S.admit(CANARY_SCHEMA, canary)
    assert (unknown, errors) == ([], [])
    assert canary["status"]["checks"][1]["value"] is None  # nullable: kept


# --- the table of bad Canaries -----------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def put(path: str, value: Any) -> Mutation:
    """Set a dotted path (list indexes as numbers) in the Canary, to a copy of ``value``: a later
    mutation of the Canary must never reach the table's own values (another case, run later or by
    another module, would see it)."""

    def mutate(obj: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = obj
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            node[int(last)] = copy.deepcopy(value)
        else:
            node[last] = copy.deepcopy(value)

    return mutate


def drop(path: str) -> Mutation:
    def mutate(obj: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = obj
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]

    return mutate


def all_of(*mutations: Mutation) -> Mutation:
    def mutate(obj: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(obj)

    return mutate


BLUE_GREEN = all_of(put("spec.provider", "kubernetes"), drop("spec.analysis.stepWeight"))
A_B = all_of(
    put("spec.provider", "istio"),
    drop("spec.analysis.stepWeight"),
    put("spec.analysis.iterations", 10),
    put("spec.analysis.match", [{"headers": {"x-canary": {"exact": "insider"}}}]),
)
INVALID, TYPE, REQUIRED, UNSUPPORTED = S.INVALID, S.TYPE_INVALID, S.REQUIRED, S.NOT_SUPPORTED

BAD_CANARIES: list[tuple[str, Mutation, str, str, str]] = [
    # (id, mutation, field, reason, message or its start)
    ("stepWeight-zero", put("spec.analysis.stepWeight", 0), "spec.analysis.stepWeight", INVALID,
     "Invalid value: 0: spec.analysis.stepWeight in body should be greater than or equal to 1"),
    ("stepWeight-over-100", put("spec.analysis.stepWeight", 101), "spec.analysis.stepWeight", INVALID,
     "Invalid value: 101: spec.analysis.stepWeight in body should be less than or equal to 100"),
    ("stepWeight-string", put("spec.analysis.stepWeight", "10"), "spec.analysis.stepWeight", TYPE,
     'Invalid value: "string": spec.analysis.stepWeight in body must be of type integer: "string"'),
    ("stepWeight-fraction", put("spec.analysis.stepWeight", 2.5), "spec.analysis.stepWeight", TYPE,
     'Invalid value: "float64": spec.analysis.stepWeight in body must be of type int32: "float64"'),
    ("maxWeight-zero", all_of(drop("spec.analysis.stepWeight"), put("spec.analysis.stepWeights", [1]),
                              put("spec.analysis.maxWeight", 0)), "spec.analysis.maxWeight", INVALID,
     "Invalid value: 0: spec.analysis.maxWeight in body should be greater than or equal to 1"),
    ("maxWeight-over-100", put("spec.analysis.maxWeight", 150), "spec.analysis.maxWeight", INVALID,
     "Invalid value: 150: spec.analysis.maxWeight in body should be less than or equal to 100"),
    ("threshold-zero", put("spec.analysis.threshold", 0), "spec.analysis.threshold", INVALID,
     "Invalid value: 0: spec.analysis.threshold in body should be greater than or equal to 1"),
    ("inconclusiveLimit-zero", put("spec.analysis.inconclusiveLimit", 0), "spec.analysis.inconclusiveLimit",
     INVALID, "Invalid value: 0: spec.analysis.inconclusiveLimit in body should be greater than or equal to"),
    ("iterations-negative", put("spec.analysis.iterations", -1), "spec.analysis.iterations", INVALID,
     "Invalid value: -1: spec.analysis.iterations in body should be greater than or equal to 0"),
    ("minRequests-negative", put("spec.analysis.minRequests", -5), "spec.analysis.minRequests", INVALID,
     "Invalid value: -5: spec.analysis.minRequests in body should be greater than or equal to 0"),
    ("progressDeadline-zero", put("spec.progressDeadlineSeconds", 0), "spec.progressDeadlineSeconds", INVALID,
     "Invalid value: 0: spec.progressDeadlineSeconds in body should be greater than or equal to 1"),
    ("service-port-too-big", put("spec.service.port", 70000), "spec.service.port", INVALID,
     "Invalid value: 70000: spec.service.port in body should be less than or equal to 65535"),
    ("provider-unknown", put("spec.provider", "linkerd"), "spec.provider", UNSUPPORTED,
     'Unsupported value: "linkerd": supported values: "gatewayapi", "istio", "smi", "nginx", "kubernetes"'),
    ("webhook-type-unknown", put("spec.analysis.webhooks.0.type", "pre-promotion"),
     "spec.analysis.webhooks[0].type", UNSUPPORTED, 'Unsupported value: "pre-promotion": supported values: '
     '"confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase", "confirm-promotion", '
     '"post-rollout", "rollback", "event"'),
    ("rollback-git-unknown", put("spec.rollback", {"git": "reset"}), "spec.rollback.git", UNSUPPORTED,
     'Unsupported value: "reset": supported values: "revert", "none"'),
    ("target-kind-unknown", put("spec.targetRef.kind", "StatefulSet"), "spec.targetRef.kind", UNSUPPORTED,
     'Unsupported value: "StatefulSet": supported values: "Deployment"'),
    ("status-phase-unknown", put("status", {"phase": "Done"}), "status.phase", UNSUPPORTED,
     'Unsupported value: "Done": supported values: "Initializing"'),
    ("status-weight-over-100", put("status", {"canaryWeight": 101}), "status.canaryWeight", INVALID,
     "Invalid value: 101: status.canaryWeight in body should be less than or equal to 100"),
    ("status-verdict-unknown", put("status", {"checks": [{"verdict": "OK"}]}), "status.checks[0].verdict",
     UNSUPPORTED, 'Unsupported value: "OK": supported values: "PASS", "FAIL", "INCONCLUSIVE", "ERROR"'),
    ("status-time-not-a-date", put("status", {"lastTransitionTime": "yesterday"}),
     "status.lastTransitionTime", TYPE,
     'Invalid value: "yesterday": status.lastTransitionTime in body must be of type date-time: "yesterday"'),
    ("condition-status-unknown", put("status", {"conditions": [{
        "type": "Promoted", "status": "Yes", "reason": "Done", "message": "",
        "lastTransitionTime": "2024-05-01T10:00:00Z"}]}), "status.conditions[0].status", UNSUPPORTED,
     'Unsupported value: "Yes": supported values: "True", "False", "Unknown"'),
    ("missing-targetRef", drop("spec.targetRef"), "spec.targetRef", REQUIRED, "Required value"),
    ("missing-target-name", drop("spec.targetRef.name"), "spec.targetRef.name", REQUIRED, "Required value"),
    ("missing-service-port", drop("spec.service.port"), "spec.service.port", REQUIRED, "Required value"),
    ("missing-analysis", drop("spec.analysis"), "spec.analysis", REQUIRED, "Required value"),
    ("missing-source", drop("spec.source"), "spec.source", REQUIRED, "Required value"),
    ("missing-git-url", drop("spec.source.git.url"), "spec.source.git.url", REQUIRED, "Required value"),
    ("missing-git-path", drop("spec.source.git.path"), "spec.source.git.path", REQUIRED, "Required value"),
    ("missing-thresholdRange", drop("spec.analysis.metrics.0.thresholdRange"),
     "spec.analysis.metrics[0].thresholdRange", REQUIRED, "Required value"),
    ("missing-webhook-url", drop("spec.analysis.webhooks.0.url"), "spec.analysis.webhooks[0].url", REQUIRED,
     "Required value"),
    ("analysis-interval-words", put("spec.analysis.interval", "1 minute"), "spec.analysis.interval", INVALID,
     'Invalid value: "1 minute": spec.analysis.interval in body should match '
     "'^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$'"),
    ("git-interval-unitless", put("spec.source.git.interval", "5"), "spec.source.git.interval", INVALID,
     'Invalid value: "5": spec.source.git.interval in body should match'),
    ("metric-interval-days", put("spec.analysis.metrics.0.interval", "1d"),
     "spec.analysis.metrics[0].interval", INVALID, 'Invalid value: "1d": spec.analysis.metrics[0].interval'),
    ("webhook-timeout-sec", put("spec.analysis.webhooks.0.timeout", "10sec"),
     "spec.analysis.webhooks[0].timeout", INVALID, 'Invalid value: "10sec"'),
    ("analysis-interval-below-1s", put("spec.analysis.interval", "500ms"), "spec.analysis.interval", INVALID,
     'Invalid value: "500ms": must be at least 1s'),
    ("git-url-no-scheme", put("spec.source.git.url", "git.example.com:fleet.git"), "spec.source.git.url",
     INVALID, 'Invalid value: "git.example.com:fleet.git": spec.source.git.url in body should match'),
    ("webhook-url-ftp", put("spec.analysis.webhooks.0.url", "ftp://x/"), "spec.analysis.webhooks[0].url",
     INVALID, 'Invalid value: "ftp://x/": spec.analysis.webhooks[0].url in body should match'),
    ("skipAnalysis-string", put("spec.skipAnalysis", "yes"), "spec.skipAnalysis", TYPE,
     'Invalid value: "string": spec.skipAnalysis in body must be of type boolean: "string"'),
    ("targetPort-boolean", put("spec.service.targetPort", True), "spec.service.targetPort", TYPE,
     'Invalid value: "boolean": spec.service.targetPort in body must be of type integer,string: "boolean"'),
    ("templateVariable-number", put("spec.analysis.metrics.0.templateVariables", {"quantile": 0.99}),
     "spec.analysis.metrics[0].templateVariables.quantile", TYPE,
     'Invalid value: "number": spec.analysis.metrics[0].templateVariables.quantile in body must be of type '
     'string: "number"'),
    ("stepWeight-and-stepWeights", put("spec.analysis.stepWeights", [5, 10]), "spec.analysis", INVALID,
     'Invalid value: stepWeight and stepWeights are mutually exclusive'),
    ("no-strategy", drop("spec.analysis.stepWeight"), "spec.analysis", INVALID,
     'Invalid value: set stepWeight or stepWeights (canary), or iterations > 0'),
    ("stepWeights-unsorted", all_of(drop("spec.analysis.stepWeight"),
                                    put("spec.analysis.stepWeights", [10, 5, 20])),
     "spec.analysis.stepWeights", INVALID, 'Invalid value: stepWeights must be strictly increasing'),
    ("stepWeights-repeated", all_of(drop("spec.analysis.stepWeight"),
                                    put("spec.analysis.stepWeights", [5, 5, 20])),
     "spec.analysis.stepWeights", INVALID, 'Invalid value: stepWeights must be strictly increasing'),
    ("stepWeights-item-over-100", all_of(drop("spec.analysis.stepWeight"),
                                         put("spec.analysis.stepWeights", [5, 50, 150])),
     "spec.analysis.stepWeights[2]", INVALID,
     "Invalid value: 150: spec.analysis.stepWeights[2] in body should be less than or equal to 100"),
    ("stepWeights-item-zero", all_of(drop("spec.analysis.stepWeight"),
                                     put("spec.analysis.stepWeights", [0, 50])),
     "spec.analysis.stepWeights[0]", INVALID,
     "Invalid value: 0: spec.analysis.stepWeights[0] in body should be greater than or equal to 1"),
    ("stepWeights-empty", all_of(drop("spec.analysis.stepWeight"), put("spec.analysis.stepWeights", [])),
     "spec.analysis.stepWeights", INVALID,
     "Invalid value: 0: spec.analysis.stepWeights in body should have at least 1 items"),
    ("maxWeight-below-stepWeight", put("spec.analysis.maxWeight", 5), "spec.analysis.maxWeight", INVALID,
     'Invalid value: maxWeight must be greater than or equal to stepWeight'),
    ("kubernetes-with-stepWeight", put("spec.provider", "kubernetes"), "spec.analysis", INVALID,
     'Invalid value: provider kubernetes is blue/green'),
    ("kubernetes-with-maxWeight", all_of(BLUE_GREEN, put("spec.analysis.iterations", 5),
                                         put("spec.analysis.maxWeight", 50)), "spec.analysis", INVALID,
     'Invalid value: provider kubernetes is blue/green'),
    ("kubernetes-without-iterations", all_of(BLUE_GREEN, put("spec.analysis.stepWeights", [10, 20])),
     "spec.analysis", INVALID, 'Invalid value: provider kubernetes is blue/green'),
    ("match-without-iterations", all_of(A_B, drop("spec.analysis.iterations"),
                                        put("spec.analysis.stepWeight", 10)), "spec.analysis.match", INVALID,
     'Invalid value: match (A/B testing) needs iterations > 0 and no stepWeight or stepWeights'),
    ("match-with-smi", all_of(A_B, put("spec.provider", "smi")), "spec.analysis.match", INVALID,
     'Invalid value: analysis.match (A/B testing) needs provider istio, gatewayapi or nginx'),
    ("match-two-matchers", all_of(A_B, put("spec.analysis.match.0.headers.x-canary",
                                               {"exact": "a", "prefix": "b"})),
     "spec.analysis.match[0].headers[x-canary]", INVALID,
     'Invalid value: set exactly one of exact, prefix, suffix, regex'),
    ("match-empty", all_of(A_B, put("spec.analysis.match", [{}])), "spec.analysis.match[0]", INVALID,
     'Invalid value: a match needs headers or queryParams'),
    ("metric-unknown-builtin", put("spec.analysis.metrics.0.name", "p99"), "spec.analysis.metrics[0]",
     INVALID, 'Invalid value: set templateRef, or use a built-in metric'),
    ("thresholdRange-empty", put("spec.analysis.metrics.0.thresholdRange", {}),
     "spec.analysis.metrics[0].thresholdRange", INVALID, 'Invalid value: set min, max or both'),
    ("thresholdRange-inverted", put("spec.analysis.metrics.0.thresholdRange", {"min": 10, "max": 1.5}),
     "spec.analysis.metrics[0].thresholdRange", INVALID,
     'Invalid value: min must be less than or equal to max'),
    ("metric-names-repeated", put("spec.analysis.metrics.1",
                                      {"name": "request-success-rate", "thresholdRange": {"min": 90}}),
     "spec.analysis.metrics[1]", S.DUPLICATE,
     'Duplicate value: {"name":"request-success-rate"}'),
    ("valuesKey-with-kustomization", all_of(put("spec.source.git.path", "apps/kustomization.yaml"),
                                            put("spec.source.git.valuesKey", "image.tag")),
     "spec.source.git.valuesKey", INVALID,
     'Invalid value: valuesKey applies to Helm values files, not to a kustomization.yaml'),
    ("nginx-without-ingressRef", put("spec.provider", "nginx"), "spec.ingressRef", REQUIRED,
     "Required value: provider nginx needs spec.ingressRef"),
    ("gatewayapi-without-gatewayRefs", drop("spec.service.gatewayRefs"), "spec.service.gatewayRefs", REQUIRED,
     "Required value: provider gatewayapi needs at least one service.gatewayRefs entry"),
]  # fmt: skip


def test_the_bad_table_is_big_enough() -> None:
    assert len(BAD_CANARIES) >= 30
    assert len({case[0] for case in BAD_CANARIES}) == len(BAD_CANARIES)


# Errors without a field path that a bad value adds before the CEL rules' "not checked" (kube-openapi's
# range check of an int32 node given a fraction).
UNLOCATED = {
    "stepWeight-fraction": [
        'Invalid value: "": Checked value must be of type integer with format int32 in '
        "spec.analysis.stepWeight"
    ]
}
NOT_CHECKED = (
    "Invalid value: null: some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)


def bad_canary(mutation: Mutation) -> dict[str, Any]:
    """The good base Canary of the table (two metrics, one webhook), with one mutation applied."""
    canary = minimal_canary()
    canary["spec"]["analysis"]["metrics"].append({"name": "request-duration", "thresholdRange": {"max": 500}})
    mutation(canary)
    return canary


def unlocated_errors(case: str, reason: str, message: str) -> list[str]:
    """The messages of the ``<nil>`` errors the API server adds for one case of the table: after a
    type, required or enum error, the CEL rules are reported as not checked."""
    expected = list(UNLOCATED.get(case, []))
    if reason in (S.TYPE_INVALID, S.REQUIRED, S.NOT_SUPPORTED) and "needs" not in message:
        expected.append(NOT_CHECKED)
    return expected


@pytest.mark.parametrize(
    ("case", "mutation", "field", "reason", "message"), BAD_CANARIES, ids=[case[0] for case in BAD_CANARIES]
)
def test_bad_canary_fails_at_the_right_field(
    case: str, mutation: Mutation, field: str, reason: str, message: str
) -> None:
    assert S.admit(CANARY_SCHEMA, bad_canary(lambda _: None))[1] == []  # the base is good
    _, errors = S.admit(CANARY_SCHEMA, bad_canary(mutation))
    located = [e for e in errors if e.field != "<nil>"]
    assert [(e.field, e.reason) for e in located] == [(field, reason)], [str(e) for e in errors]
    assert located[0].message.startswith(message)
    assert [e.message for e in errors if e.field == "<nil>"] == unlocated_errors(case, reason, message)


BAD_TEMPLATES: list[tuple[str, Mutation, str, str]] = [
    ("provider-type-unknown", put("spec.provider.type", "datadog"), "spec.provider.type", UNSUPPORTED),
    ("address-without-scheme", put("spec.provider.address", "prometheus:9090"), "spec.provider.address",
     INVALID),
    ("missing-query", drop("spec.query"), "spec.query", REQUIRED),
    ("empty-query", put("spec.query", ""), "spec.query", INVALID),
    ("missing-provider", drop("spec.provider"), "spec.provider", REQUIRED),
    ("timeout-unitless", put("spec.provider.timeout", "5"), "spec.provider.timeout", INVALID),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutation", "field", "reason"), [c[1:] for c in BAD_TEMPLATES], ids=[c[0] for c in BAD_TEMPLATES]
)
def test_bad_metrictemplate_fails_at_the_right_field(mutation: Mutation, field: str, reason: str) -> None:
    template = yaml.safe_load((ROOT / "examples" / "metrictemplate-latency.yaml").read_text())
    mutation(template)
    _, errors = S.admit(TEMPLATE_SCHEMA, template)
    assert [(e.field, e.reason) for e in errors] == [(field, reason)]
