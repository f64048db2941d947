"""`serinus sandbox up|down` as a user runs them: side by side, down leaves nothing, prerequisites named.

Pins:
- a second sandbox started with the CLI while the session's runs gets other ports, its own cluster
  (a Deployment applied to one is not in the other), and ``serinus sandbox down`` stops every process
  it recorded and every descendant of its supervisor (app processes included), while the first sandbox
  keeps working; ``down`` again succeeds and changes nothing;
- after the supervisor is killed with SIGKILL, ``down`` still stops every process it had started;
- a missing program is a clear error naming ``./dev setup``, and nothing is left running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.processes import ProcessRecord, descendants, is_alive
from sandbox.session import Sandbox, recorded_processes
from tests.integration.sandbox_up.conftest import deployment, eventually

pytestmark = pytest.mark.integration

SERINUS = [sys.executable, "-m", "controller.cli"]


def _serinus(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERINUS, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def _with_app(box: Sandbox) -> dict[str, ProcessRecord]:
    """Run one demo-app replica in ``box``; return every process to account for (recorded + descendants)."""
    box.apply(deployment("solo", "demo/podinfo:1.1.0"))
    eventually(
        lambda: any(n.startswith("app:solo-") for n in recorded_processes(box.workdir)), "the app recorded"
    )
    everything = dict(recorded_processes(box.workdir))
    supervisor = everything["supervisor"]
    for record in descendants(supervisor.pid):
        everything.setdefault(f"pid:{record.pid}", record)
    assert all(is_alive(r) for r in everything.values()), everything
    # the servers and the app all run under the supervisor
    below = {r.pid for r in descendants(supervisor.pid)}
    assert {r.pid for n, r in everything.items() if n != "supervisor"} <= below
    return everything


def test_two_sandboxes_side_by_side_and_down_leaves_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    workdir = tmp_path / "second"
    started = _serinus("sandbox", "up", "--workdir", str(workdir))
    assert started.returncode == 0, started.stderr
    for label in ("Kubernetes API:", "Prometheus:", "Envoy listener:", "Envoy admin:", "fleet repository:"):
        assert label in started.stdout
    second = Sandbox.attach(workdir)
    first_ports = {u.rsplit(":", 1)[1] for u in (sandbox.api_url, sandbox.prometheus_url, sandbox.envoy_url)}
    second_ports = {u.rsplit(":", 1)[1] for u in (second.api_url, second.prometheus_url, second.envoy_url)}
    assert not first_ports & second_ports

    everything = _with_app(second)
    assert sandbox.get("apps/v1", "Deployment", "solo") is None  # separate clusters

    stopped = _serinus("sandbox", "down", "--workdir", str(workdir))
    assert stopped.returncode == 0, stopped.stderr
    survivors = {n: r.pid for n, r in everything.items() if is_alive(r)}
    assert survivors == {}
    again = _serinus("sandbox", "down", "--workdir", str(workdir))
    assert again.returncode == 0, again.stderr
    assert "leftover" not in again.stdout

    # the first sandbox did not notice
    assert is_alive(recorded_processes(sandbox.workdir)["supervisor"])
    assert sandbox.kubectl("get", "namespaces").returncode == 0


def test_down_after_the_supervisor_was_killed_stops_its_children(tmp_path: Path) -> None:
    box = Sandbox.up(tmp_path / "killed", rps=0)
    everything = _with_app(box)
    supervisor = everything.pop("supervisor")
    os.kill(supervisor.pid, signal.SIGKILL)
    eventually(lambda: not is_alive(supervisor), "the supervisor gone")
    assert any(is_alive(r) for r in everything.values())  # orphans, until down
    leftovers = box.down()
    assert "apiserver" in leftovers and any(n.startswith("app:solo-") for n in leftovers)
    assert {n: r.pid for n, r in everything.items() if is_alive(r)} == {}


def test_a_missing_program_names_the_setup_command(tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    result = _serinus("sandbox", "up", "--workdir", str(tmp_path / "nothing"), env=env)
    assert result.returncode == 1
    assert "prometheus" in result.stderr and "./dev setup" in result.stderr
    assert not (tmp_path / "nothing" / "state.json").exists()
