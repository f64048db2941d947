"""`python -m sandbox.apiserver` serves the API on the given port, writes a kubeconfig that kubectl
uses as-is, and stops cleanly on SIGTERM. Emulator-only: it tests the emulator's own command."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.integration.apiserver.clients import ROOT, Kubectl, Server, emulator_only


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@emulator_only("it starts the emulator's own command, `python -m sandbox.apiserver`")
def test_cli_serves_until_sigterm(server: Server, tmp_path: Path) -> None:
    """The CLI prints its URL once listening, kubectl works through the written kubeconfig, and
    SIGTERM ends the process with exit code 0."""
    port = _free_port()
    config = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.apiserver", "--port", str(port), "--kubeconfig", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"serving the Kubernetes API on http://127.0.0.1:{port}"
        kubectl = Kubectl(config, tmp_path / "cache")
        kubectl.run("create", "configmap", "from-cli", "--from-literal=a=b")
        assert kubectl.json("get", "cm", "from-cli")["data"] == {"a": "b"}
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
