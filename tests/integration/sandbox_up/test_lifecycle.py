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

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.kubernetes.testing import SERVERS
from sandbox.processes import ProcessRecord, descendants, is_alive
from sandbox.session import Sandbox, recorded_processes
from tests.integration.sandbox_up.conftest import deployment, eventually

pytestmark = pytest.mark.integration

SERINUS = [sys.executable, "-m", "controller.cli"]


def _serinus(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERINUS, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def _is_solo(name: str) -> bool:
    """A recorded process of the ``solo`` app: ``app:<pod>`` (emulator) or ``app:<ns>/<pod>`` (node)."""
    return name.startswith("app:") and name.rsplit("/", 1)[-1].removeprefix("app:").startswith("solo-")


def _with_app(box: Sandbox) -> dict[str, ProcessRecord]:
    """Run one demo-app replica in ``box``; return every process to account for (recorded + descendants)."""
    box.apply(deployment("solo", "demo/podinfo:1.1.0"))
    eventually(
        lambda: any(_is_solo(n) for n in recorded_processes(box.workdir)), "the app recorded"
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


@pytest.mark.parametrize("control_plane", SERVERS)
def test_down_after_the_supervisor_was_killed_stops_its_children(tmp_path: Path, control_plane: str) -> None:
    """On the real control plane too: etcd, the Kubernetes components and the node's app processes
    are stopped by PID, and the Pod addresses the node added to lo are removed."""
    box = Sandbox.up(tmp_path / "killed", rps=0, control_plane=control_plane)
    try:
        everything = _with_app(box)
        supervisor = everything.pop("supervisor")
        os.kill(supervisor.pid, signal.SIGKILL)
        eventually(lambda: not is_alive(supervisor), "the supervisor gone")
        assert any(is_alive(r) for r in everything.values())  # orphans, until down
        addresses = _pod_addresses(box.workdir)
        assert (addresses != []) == (control_plane == "kubernetes")
        leftovers = box.down()
        servers = {"emulator": {"apiserver"},
                   "kubernetes": {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}}
        assert servers[control_plane] <= set(leftovers) and any(_is_solo(n) for n in leftovers)
        assert {n: r.pid for n, r in everything.items() if is_alive(r)} == {}
        on_lo = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", "lo"], capture_output=True,
                               text=True, check=True).stdout  # fmt: skip
        assert [a for a in addresses if f" {a}/32 " in on_lo] == []
        assert _pod_addresses(box.workdir) == []
    finally:
        box.down()  # a failed step must not leave the sandbox running


def _pod_addresses(workdir: Path) -> list[str]:
    """The Pod addresses the sandbox's process node recorded as added to lo (none on the emulator)."""
    try:
        return list(json.loads((workdir / "node" / "addresses.json").read_text())["addresses"])
    except FileNotFoundError:
        return []


def test_a_missing_program_names_the_setup_command(tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    result = _serinus("sandbox", "up", "--workdir", str(tmp_path / "nothing"), env=env)
    assert result.returncode == 1
    assert "prometheus" in result.stderr and "./dev setup" in result.stderr
    assert not (tmp_path / "nothing" / "state.json").exists()
