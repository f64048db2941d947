"""The table of bad Canaries (and bad MetricTemplates) of tests/unit/crds refused by the real
kube-apiserver v1.37.2 as by the API emulator: for each, both answer 422 with the same Status (message
and causes), and the cause the real server names is the table's field path and reason.

A bad ``status`` is written through the status subresource (a create drops ``status``), where the
real server checks it with a validator rooted at the status schema: the field path still starts with
``status.``, the message names the path inside status (``canaryWeight in body ...``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
import yaml
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from tests.integration.kubernetes.cluster import ROOT, Servers
from tests.unit.crds.test_crds import (
    BAD_CANARIES,
    BAD_TEMPLATES,
    CONTROLLER_STATUS,
    Mutation,
    bad_canary,
    unlocated_errors,
)

pytestmark = [pytest.mark.integration, pytest.mark.real_control_plane]

GROUP, VERSION = "serinus.dev", "v1alpha1"
Answer = tuple[int, dict[str, Any]]


class Writer:
    """Creates custom objects in one namespace of one server and keeps the answer."""

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        load: Any = kubernetes.config.new_client_from_config  # untyped in the client
        self.api = load(config_file=kubeconfig)
        self.objs: Any = CustomObjectsApi(self.api)
        self.namespace = namespace

    def write(self, plural: str, obj: dict[str, Any]) -> Answer:
        """Create `obj`; with a ``status``, create it without and then write the status through the
        status subresource. The answer to the write that was refused, else (201, created) or, after
        a status write, (200, stored)."""
        obj = {**obj, "metadata": {**obj["metadata"], "namespace": self.namespace}}
        status = obj.pop("status", None)
        try:
            stored: dict[str, Any] = self.objs.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, obj
            )
            if status is not None:
                stored["status"] = status
                replaced: dict[str, Any] = self.objs.replace_namespaced_custom_object_status(
                    GROUP, VERSION, self.namespace, plural, obj["metadata"]["name"], stored
                )
                return 200, replaced
        except ApiException as exc:
            body: dict[str, Any] = yaml.safe_load(exc.body or "{}")
            return int(exc.status), body
        return 201, stored


@pytest.fixture(scope="module")
def writers(servers: Servers) -> Iterator[tuple[Writer, Writer]]:
    """(real, emulator) writers in one namespace of the same name on both servers."""
    namespace = servers.namespace("bad")
    real = Writer(str(servers.plane.kubeconfig), namespace)
    emulated = Writer(str(servers.emulator.kubeconfig), namespace)
    yield real, emulated
    real.api.close()
    emulated.api.close()


def _named(obj: dict[str, Any], name: str) -> dict[str, Any]:
    obj["metadata"]["name"] = name.lower()
    return obj


def _causes(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    causes = (body.get("details") or {}).get("causes") or []
    return sorted((c.get("field", ""), c.get("reason", ""), c.get("message", "")) for c in causes)


def test_the_table_s_good_base_is_accepted_by_both(writers: tuple[Writer, Writer]) -> None:
    for writer in writers:
        status, stored = writer.write("canaries", _named(bad_canary(lambda _: None), "good-base"))
        assert status == 201, stored


def test_the_status_the_controller_writes_is_accepted_and_stored_alike(
    writers: tuple[Writer, Writer],
) -> None:
    """The status of a run (the unit table's sample: conditions, checks, a check without a value)
    through the status subresource: accepted by both, stored the same (the null value is kept)."""
    stored = []
    for writer in writers:
        canary = _named(bad_canary(lambda _: None), "with-status")
        canary["status"] = copy.deepcopy(CONTROLLER_STATUS)
        status, obj = writer.write("canaries", canary)
        assert status == 200, obj
        stored.append(obj["status"])
    assert stored[0] == CONTROLLER_STATUS
    assert stored[1] == stored[0]


@pytest.mark.parametrize("bad", BAD_CANARIES, ids=[bad[0] for bad in BAD_CANARIES])
def test_a_bad_canary_is_refused_by_both_servers_with_the_same_status(
    writers: tuple[Writer, Writer], bad: tuple[str, Mutation, str, str, str]
) -> None:
    case, mutation, field, reason, message = bad
    real, emulated = (w.write("canaries", _named(bad_canary(mutation), case)) for w in writers)
    assert real[0] == 422, real
    assert emulated[0] == 422, emulated
    assert real[1]["reason"] == emulated[1]["reason"] == "Invalid"
    assert _causes(emulated[1]) == _causes(real[1])
    assert emulated[1]["message"] == real[1]["message"]

    located = [c for c in real[1]["details"]["causes"] if c["field"] != "<nil>"]
    assert [(c["field"], c["reason"]) for c in located] == [(field, reason)]
    # through the status subresource the message names the path inside status
    expected = re.sub(r": status\.", ": ", message) if field.startswith("status.") else message
    assert located[0]["message"].startswith(expected), located[0]["message"]
    unlocated = [c["message"] for c in real[1]["details"]["causes"] if c["field"] == "<nil>"]
    assert unlocated == unlocated_errors(case, reason, message)


@pytest.mark.parametrize(
    ("case", "mutation", "field", "reason"), BAD_TEMPLATES, ids=[case[0] for case in BAD_TEMPLATES]
)
def test_a_bad_metrictemplate_is_refused_by_both_servers_with_the_same_status(
    writers: tuple[Writer, Writer], case: str, mutation: Mutation, field: str, reason: str
) -> None:
    template = yaml.safe_load((ROOT / "examples" / "metrictemplate-latency.yaml").read_text())
    mutation(template)
    real, emulated = (w.write("metrictemplates", _named(template, case)) for w in writers)
    assert (real[0], emulated[0]) == (422, 422), (real, emulated)
    assert _causes(emulated[1]) == _causes(real[1])
    assert emulated[1]["message"] == real[1]["message"]
    located = [(c["field"], c["reason"]) for c in real[1]["details"]["causes"] if c["field"] != "<nil>"]
    assert located == [(field, reason)]
