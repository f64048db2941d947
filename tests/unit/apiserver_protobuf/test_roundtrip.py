"""Objects written to the wire by the table-driven test encoder decode back unchanged, for every kind the
emulator accepts: maps, base64 bytes, timestamps (whole seconds and microseconds), negative integers,
IntOrString in both forms, Quantities, inline (embedded) structs, packed repeated integers.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.apiserver.protobuf import KINDS, decode_body
from tests.unit.apiserver_protobuf.encoder import (
    encode_body,
    encode_message,
    length_delimited,
    tag,
    unknown,
    varint,
)

names = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)
keys = st.from_regex(r"[A-Za-z0-9._-]{1,20}", fullmatch=True)
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40)


@st.composite
def metadata(draw: st.DrawFn) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": draw(names), "namespace": draw(names)}
    labels = draw(st.dictionaries(keys, names, max_size=4))
    annotations = draw(st.dictionaries(keys, text, max_size=3))
    finalizers = draw(st.lists(names, max_size=2))
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    if finalizers:
        meta["finalizers"] = finalizers
    if draw(st.booleans()):
        meta["generation"] = draw(st.integers(1, 2**62))
    return meta


@given(
    metadata(),
    st.dictionaries(keys, text, max_size=5),
    st.dictionaries(keys, st.binary(min_size=1), max_size=3),
)
@settings(max_examples=60, deadline=None)
def test_configmap_round_trip(meta: dict[str, Any], data: dict[str, str], binary: dict[str, bytes]) -> None:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    if data:
        obj["data"] = data
    if binary:
        obj["binaryData"] = {k: base64.b64encode(v).decode() for k, v in binary.items()}
    assert decode_body(encode_body(obj)) == obj


@given(
    metadata(),
    st.dictionaries(keys, st.binary(min_size=1), max_size=4),
    st.dictionaries(keys, text, max_size=3),
)
@settings(max_examples=60, deadline=None)
def test_secret_round_trip(meta: dict[str, Any], data: dict[str, bytes], string_data: dict[str, str]) -> None:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque"}
    if data:
        obj["data"] = {k: base64.b64encode(v).decode() for k, v in data.items()}
    if string_data:
        obj["stringData"] = string_data
    assert decode_body(encode_body(obj)) == obj


def test_immutable_false_is_kept_because_it_is_a_pointer() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "immutable": False}
    assert decode_body(encode_body(obj)) == obj


def test_object_metadata_in_full() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "team-a",
            "uid": "6b9c1f2e-0000-4000-8000-000000000001",
            "resourceVersion": "42",
            "generation": 3,
            "creationTimestamp": "2025-03-01T12:34:56Z",
            "deletionTimestamp": "2025-03-02T00:00:00Z",
            "deletionGracePeriodSeconds": 0,
            "labels": {"team": "a"},
            "annotations": {"note": "x"},
            "ownerReferences": [
                {
                    "apiVersion": "serinus.dev/v1alpha1",
                    "kind": "Canary",
                    "name": "web",
                    "uid": "u-1",
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
            "finalizers": ["serinus.dev/cleanup"],
            "managedFields": [
                {
                    "manager": "kubectl",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2025-03-01T12:34:56Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:team": {}}}},
                }
            ],
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Terminating"},
    }
    assert decode_body(encode_body(obj)) == obj


def test_lease_with_microsecond_times() -> None:
    obj = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "serinus-leader", "namespace": "serinus-system"},
        "spec": {
            "holderIdentity": "pod-1",
            "leaseDurationSeconds": 15,
            "acquireTime": "2025-03-01T12:00:00.000000Z",
            "renewTime": "2025-03-01T12:00:10.123456Z",
            "leaseTransitions": 0,
        },
    }
    assert decode_body(encode_body(obj)) == obj


def test_scale() -> None:
    obj = {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {"name": "web", "namespace": "demo", "resourceVersion": "7"},
        "spec": {"replicas": 4},
        "status": {"replicas": 0, "selector": "app=web"},
    }
    assert decode_body(encode_body(obj)) == obj


def test_core_and_events_v1_events() -> None:
    ref = {"kind": "Canary", "namespace": "demo", "name": "web", "apiVersion": "serinus.dev/v1alpha1"}
    core = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web.1", "namespace": "demo"},
        "involvedObject": ref,
        "reason": "Promoted",
        "message": "weight 50",
        "source": {"component": "serinus"},
        "firstTimestamp": "2025-03-01T12:00:00Z",
        "lastTimestamp": "2025-03-01T12:05:00Z",
        "count": 2,
        "type": "Normal",
        "reportingComponent": "serinus",
        "reportingInstance": "",
    }
    new = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "web.2", "namespace": "demo"},
        "eventTime": "2025-03-01T12:00:00.500000Z",
        "series": {"count": 3, "lastObservedTime": "2025-03-01T12:01:00.000001Z"},
        "reportingController": "serinus.dev/controller",
        "reportingInstance": "serinus-0",
        "action": "Rollback",
        "reason": "AnalysisFailed",
        "regarding": ref,
        "note": "error rate 7%",
        "type": "Warning",
    }
    assert decode_body(encode_body(core)) == core
    assert decode_body(encode_body(new)) == new


def test_deployment_with_a_rich_pod_template() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo"},
        "spec": {
            "replicas": 2,
            "selector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
            },
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"serinus.dev/revision": "3"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "web:2",
                            "args": ["--port=8080"],
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            "env": [
                                {"name": "MODE", "value": "canary"},
                                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                {
                                    "name": "TOKEN",
                                    "valueFrom": {
                                        "secretKeyRef": {"name": "creds", "key": "token", "optional": False}
                                    },
                                },
                            ],
                            "envFrom": [{"configMapRef": {"name": "settings"}}],
                            "resources": {
                                "limits": {"cpu": "500m", "memory": "128Mi"},
                                "requests": {"cpu": "100m"},
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                                "periodSeconds": 2,
                            },
                            "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 1},
                            "volumeMounts": [{"name": "conf", "mountPath": "/etc/web", "readOnly": True}],
                            "securityContext": {"runAsUser": -1, "allowPrivilegeEscalation": False},
                        }
                    ],
                    "volumes": [{"name": "conf", "configMap": {"name": "settings", "defaultMode": 420}}],
                    "terminationGracePeriodSeconds": 0,
                    "securityContext": {"supplementalGroups": [1000, 2000]},
                    "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
                },
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": 600,
        },
        "status": {
            "observedGeneration": 4,
            "replicas": 2,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                    "lastUpdateTime": "2025-03-01T12:00:00Z",
                }
            ],
        },
    }
    assert decode_body(encode_body(obj)) == obj


def test_every_kind_decodes_its_empty_object() -> None:
    for (api_version, kind), message in KINDS.items():
        body = unknown(api_version, kind, encode_message({}, message))
        assert decode_body(body) == {"apiVersion": api_version, "kind": kind}


def test_packed_repeated_integers_are_read_like_unpacked_ones() -> None:
    # PodSecurityContext.supplementalGroups = 4: proto3-style writers pack repeated varints.
    packed_groups = length_delimited(4, varint(1000) + varint(2000))
    pod_spec = length_delimited(14, packed_groups)
    body = unknown("v1", "Pod", length_delimited(2, pod_spec))
    assert decode_body(body)["spec"] == {"securityContext": {"supplementalGroups": [1000, 2000]}}


@pytest.mark.parametrize("value", [-1, -(2**31), 2**31 - 1])
def test_int32_extremes(value: int) -> None:
    spec = tag(1, 0) + varint(value)  # ScaleSpec.replicas
    body = unknown("autoscaling/v1", "Scale", length_delimited(2, spec))
    assert decode_body(body)["spec"] == {"replicas": value}
