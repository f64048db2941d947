"""Real kubectl 1.37 request bodies (tests/fixtures/protobuf) decode to the objects the commands describe.

Each expectation is written from the kubectl command line in `kubectl_capture.COMMANDS` (names,
namespace, literals, image, replicas, ports), not from the decoder's output.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.apiserver.protobuf import decode_body, is_protobuf
from tests.unit.apiserver_protobuf.kubectl_capture import COMMANDS, FILES, fixture_name

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "protobuf"


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.pb").read_bytes()


def test_every_pinned_command_has_its_fixture() -> None:
    for command in COMMANDS:
        assert (FIXTURES / fixture_name(command.name, command.content_type)).is_file(), command.name


def test_namespace() -> None:
    assert decode_body(fixture("namespace")) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "demo"},
        "spec": {},
        "status": {},
    }


def test_configmap_literals() -> None:
    assert decode_body(fixture("configmap")) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "demo"},
        "data": {"color": "blue", "size": "10"},
    }


def test_configmap_files_split_text_and_binary_and_keep_annotations() -> None:
    obj = decode_body(fixture("configmap_files"))
    assert obj["data"] == {"app.conf": FILES["app.conf"].decode()}
    assert obj["binaryData"] == {"blob.bin": b64(FILES["blob.bin"])}
    # --save-config writes the object itself into an annotation: it must agree with the fields.
    last_applied = json.loads(
        obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert last_applied["data"] == obj["data"]
    assert last_applied["binaryData"] == obj["binaryData"]
    assert obj["metadata"]["name"] == "files"
    assert obj["metadata"]["namespace"] == "demo"


def test_secret_values_are_base64_as_in_json() -> None:
    assert decode_body(fixture("secret_generic")) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "demo"},
        "data": {"user": b64("admin"), "password": b64("s3cr=t")},
    }


def test_secret_type() -> None:
    obj = decode_body(fixture("secret_typed"))
    assert obj["type"] == "example.com/token"
    assert obj["data"] == {"token": b64("abc")}


def test_serviceaccount() -> None:
    assert decode_body(fixture("serviceaccount")) == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "robot", "namespace": "demo"},
    }


def test_service_ports_with_numeric_and_named_target_ports() -> None:
    obj = decode_body(fixture("service"))
    assert obj["metadata"] == {"name": "web", "namespace": "demo", "labels": {"app": "web"}}
    assert obj["spec"] == {
        "ports": [
            {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
            {"name": "9090-metrics", "protocol": "TCP", "port": 9090, "targetPort": "metrics"},
        ],
        "selector": {"app": "web"},
        "type": "ClusterIP",
    }


def deployment(name: str, replicas: int, container: dict[str, Any]) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "demo", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            "strategy": {},
        },
        "status": {},
    }


def test_deployment() -> None:
    container = {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 8080}], "resources": {}}
    assert decode_body(fixture("deployment")) == deployment("web", 3, container)


def test_deployment_keeps_an_explicit_zero_replicas_and_the_command() -> None:
    container = {"name": "busybox", "image": "busybox", "command": ["sleep", "3600"], "resources": {}}
    obj = decode_body(fixture("deployment_command"))
    assert obj == deployment("sleeper", 0, container)
    assert obj["spec"]["replicas"] == 0  # a pointer in Go: 0 is not "unset"


def test_scale_is_a_json_merge_patch_not_protobuf() -> None:
    command = next(c for c in COMMANDS if c.name == "scale")
    assert not is_protobuf(command.content_type)
    assert json.loads((FIXTURES / "scale.json").read_bytes()) == {"spec": {"replicas": 5}}


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/vnd.kubernetes.protobuf", True),
        ("application/vnd.kubernetes.protobuf; charset=binary", True),
        ("Application/VND.Kubernetes.Protobuf", True),
        ("application/json", False),
        ("application/merge-patch+json", False),
        ("application/vnd.kubernetes.protobuf+json", False),
        ("", False),
    ],
)
def test_is_protobuf(content_type: str, expected: bool) -> None:
    assert is_protobuf(content_type) is expected
