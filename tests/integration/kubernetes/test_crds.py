"""Serinus' CRDs on the real kube-apiserver v1.37.2: accepted as new definitions (structural schema,
every CEL rule compiled and within the cost budget, which the server enforces at creation: a control
CRD over budget is refused), Established with the documented names, the printer columns DESIGN.md
promises (STATUS, WEIGHT, IMAGE, LASTTRANSITION; PROVIDER, PROMOTED, FAILED with -o wide) served
in the same Table as the emulator serves, the ``serinus`` category, and ``kubectl wait
--for=condition=Promoted``.
"""

from __future__ import annotations

import copy
import json
import secrets
from typing import Any

import pytest
import yaml

from tests.integration.kubernetes.cluster import ROOT, SERINUS_CRDS, Servers, serinus_crds

pytestmark = [pytest.mark.integration, pytest.mark.real_control_plane]

CONDITION = {
    "type": "Promoted",
    "status": "Unknown",
    "reason": "Progressing",
    "message": "canary weight 20",
    "lastTransitionTime": "2024-05-01T10:00:00Z",
}
STATUS: dict[str, Any] = {
    "phase": "Progressing",
    "canaryWeight": 20,
    "failedChecks": 1,
    "currentRevision": {"commit": "9f1c2d3", "image": "ghcr.io/acme/podinfo:6.1.0"},
    "lastPromotedRevision": {"commit": "77ab001", "image": "ghcr.io/acme/podinfo:6.0.3"},
    "lastTransitionTime": "2024-05-01T10:00:00Z",
    "conditions": [CONDITION],
}


def _renamed(crd: dict[str, Any], group: str) -> dict[str, Any]:
    """The same definition in another group (so it can be created beside the installed one)."""
    copied = copy.deepcopy(crd)
    copied["spec"]["group"] = group
    copied["metadata"]["name"] = f"{copied['spec']['names']['plural']}.{group}"
    return copied


@pytest.mark.parametrize("path", SERINUS_CRDS, ids=[p.name for p in SERINUS_CRDS])
def test_the_crd_is_accepted_as_a_new_definition_without_warnings(servers: Servers, path: Any) -> None:
    """Created afresh (server-side dry run, under another group so the installed one does not answer
    AlreadyExists), the definition passes every check kube-apiserver makes at creation: structural
    schema, defaults, CEL compilation and the estimated cost of every rule."""
    crd = _renamed(yaml.safe_load(path.read_text()), f"check-{secrets.token_hex(3)}.serinus.dev")
    done = servers.kube.run("create", "--dry-run=server", "-o", "json", "-f", "-", stdin=json.dumps(crd))
    assert done.stderr == ""  # no warning either
    created = json.loads(done.stdout)
    assert created["spec"]["versions"][0]["schema"] == crd["spec"]["versions"][0]["schema"]


def test_a_rule_over_the_cost_budget_is_refused_so_acceptance_means_something(servers: Servers) -> None:
    """The server estimates each rule's cost at creation: a rule over an unbounded list of unbounded
    strings is refused, naming the rule. (The emulator has no cost estimation: see its README.)"""
    crd = _renamed(serinus_crds()[0], f"budget-{secrets.token_hex(3)}.serinus.dev")
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["hosts"] = {
        "type": "array",
        "description": "Unbounded.",
        "items": {"type": "string"},
        "x-kubernetes-validations": [{"rule": "self.all(x, self.all(y, self.all(z, x + y + z != 'abc')))"}],
    }
    done = servers.kube.run("create", "--dry-run=server", "-f", "-", stdin=json.dumps(crd), check=False)
    assert done.returncode == 1, done.stdout
    rule = (
        "spec.validation.openAPIV3Schema.properties[spec].properties[hosts].x-kubernetes-validations[0].rule"
    )
    assert f"{rule}: Forbidden: estimated rule cost exceeds budget" in done.stderr


def test_the_installed_crds_are_established_with_the_documented_names(servers: Servers) -> None:
    for crd in serinus_crds():
        stored = servers.kube.json("get", "crd", crd["metadata"]["name"])
        conditions = {c["type"]: c["status"] for c in stored["status"]["conditions"]}
        assert conditions["Established"] == "True"
        assert conditions["NamesAccepted"] == "True"
        assert stored["status"]["acceptedNames"] == {"listKind": f"{crd['spec']['names']['kind']}List",
                                                     **crd["spec"]["names"]}  # fmt: skip
        assert stored["status"]["storedVersions"] == ["v1alpha1"]
    resources = servers.kube.run("api-resources", "--api-group=serinus.dev", "--no-headers").stdout.split(
        "\n"
    )
    assert sorted(line.split() for line in resources if line) == [
        ["canaries", "cn", "serinus.dev/v1alpha1", "true", "Canary"],
        ["metrictemplates", "mt", "serinus.dev/v1alpha1", "true", "MetricTemplate"],
    ]


def _example_with_status(servers: Servers, namespace: str) -> None:
    """examples/canary-gatewayapi.yaml and the latency MetricTemplate in `namespace` on both servers,
    the Canary with the status of a run in progress (written through the status subresource)."""
    for name in ("canary-gatewayapi.yaml", "metrictemplate-latency.yaml"):
        obj = yaml.safe_load((ROOT / "examples" / name).read_text())
        obj["metadata"]["namespace"] = namespace
        for kubectl in (servers.kube, servers.emu):
            kubectl.run("create", "-f", "-", stdin=json.dumps(obj))
    for kubectl in (servers.kube, servers.emu):
        kubectl.run("patch", "canary.serinus.dev/podinfo", "-n", namespace, "--subresource=status",
                    "--type=merge", "-p", json.dumps({"status": STATUS}))  # fmt: skip


def test_printer_columns_are_served_as_design_md_promises_and_as_the_emulator_serves_them(
    servers: Servers,
) -> None:
    namespace = servers.namespace("columns")
    _example_with_status(servers, namespace)

    lines = servers.kube.run("get", "cn", "-n", namespace).stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "WEIGHT", "IMAGE", "LASTTRANSITION"]
    assert lines[1].split()[:4] == ["podinfo", "Progressing", "20", "ghcr.io/acme/podinfo:6.1.0"]
    wide = servers.kube.run("get", "cn", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == [
        "NAME", "STATUS", "WEIGHT", "IMAGE", "LASTTRANSITION", "PROVIDER", "PROMOTED", "FAILED",
    ]  # fmt: skip
    assert wide[1].split()[5:] == ["gatewayapi", "ghcr.io/acme/podinfo:6.0.3", "1"]

    for plural in ("canaries", "metrictemplates"):
        path = f"/apis/serinus.dev/v1alpha1/namespaces/{namespace}/{plural}"
        real, emulated = servers.table(path, real=True), servers.table(path, real=False)
        assert emulated["columnDefinitions"] == real["columnDefinitions"], plural
        # an Age cell depends on when each server made the object; every other cell must agree
        ages = [i for i, c in enumerate(real["columnDefinitions"]) if c["name"] == "Age"]
        assert _masked(emulated, ages) == _masked(real, ages), plural
        for args in (["get", plural, "-n", namespace], ["get", plural, "-n", namespace, "-o", "wide"]):
            if not ages:
                assert servers.emu.run(*args).stdout == servers.kube.run(*args).stdout, args


def _masked(table: dict[str, Any], columns: list[int]) -> list[list[Any]]:
    return [[None if i in columns else cell for i, cell in enumerate(r["cells"])] for r in table["rows"]]


def test_the_serinus_category_lists_both_kinds_and_all_does_not(servers: Servers) -> None:
    namespace = servers.namespace("category")
    _example_with_status(servers, namespace)
    listed = servers.kube.run("get", "serinus", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(listed) == ["canary.serinus.dev/podinfo", "metrictemplate.serinus.dev/latency"]
    everything = servers.kube.run("get", "all", "-n", namespace, "-o", "name").stdout
    assert "serinus.dev" not in everything


def test_kubectl_wait_for_the_promoted_condition(servers: Servers) -> None:
    namespace = servers.namespace("wait")
    _example_with_status(servers, namespace)
    wait = ["wait", "canary.serinus.dev/podinfo", "-n", namespace, "--for=condition=Promoted"]
    pending = servers.kube.run(*wait, "--timeout=1s", check=False)
    assert pending.returncode != 0, pending.stdout  # Unknown is not True
    promoted = {**CONDITION, "status": "True", "reason": "Succeeded"}
    servers.kube.run("patch", "canary.serinus.dev/podinfo", "-n", namespace, "--subresource=status",
                     "--type=merge", "-p", json.dumps({"status": {"phase": "Succeeded",
                                                                  "conditions": [promoted]}}))  # fmt: skip
    done = servers.kube.run(*wait, "--timeout=20s")
    assert done.stdout.strip() == "canary.serinus.dev/podinfo condition met"
