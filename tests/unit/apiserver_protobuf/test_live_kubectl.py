"""The installed kubectl still sends what the fixtures pin, and each body decodes to what kubectl itself
prints for `--dry-run=client --output=json` (Go's JSON of the very object it sends).

Runs the real `.venv/bin/kubectl` against a loopback capture server. A kubectl upgrade that changes a
body, its content type, or adds a field the decoder does not know fails here; regenerate the fixtures
with `python -m tests.unit.apiserver_protobuf.kubectl_capture tests/fixtures/protobuf` after checking.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sandbox.apiserver.protobuf import decode_body, is_protobuf
from tests.unit.apiserver_protobuf.kubectl_capture import (
    COMMANDS,
    KUBECTL,
    Captured,
    Command,
    capture,
    dry_run_args,
    fixture_name,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "protobuf"
PROTOBUF_COMMANDS = [c for c in COMMANDS if is_protobuf(c.content_type)]


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Captured]:
    return capture(COMMANDS, tmp_path_factory.mktemp("kubectl"))


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_kubectl_sends_the_pinned_body(captured: dict[str, Captured], command: Command) -> None:
    write = captured[command.name]
    assert write.content_type == command.content_type
    pinned = (FIXTURES / fixture_name(command.name, command.content_type)).read_bytes()
    assert write.body == pinned, f"kubectl's body for {command.name} changed; see this module's docstring"


@pytest.mark.parametrize("command", PROTOBUF_COMMANDS, ids=lambda c: c.name)
def test_decoded_body_equals_kubectls_own_json(
    captured: dict[str, Captured], command: Command, tmp_path: Path
) -> None:
    printed = subprocess.run(
        [str(KUBECTL), *dry_run_args(command, tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert decode_body(captured[command.name].body) == json.loads(printed.stdout)


def test_creates_go_to_the_collection_and_scale_to_the_subresource(captured: dict[str, Captured]) -> None:
    assert (captured["namespace"].method, captured["namespace"].path) == ("POST", "/api/v1/namespaces")
    assert captured["configmap"].path == "/api/v1/namespaces/demo/configmaps"
    assert captured["deployment"].path == "/apis/apps/v1/namespaces/demo/deployments"
    assert (captured["scale"].method, captured["scale"].path) == (
        "PATCH",
        "/apis/apps/v1/namespaces/demo/deployments/web/scale",
    )
