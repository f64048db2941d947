"""One pod worker with real processes and real ``lo`` addresses, but a recording fake of the API.

Pins what the control plane tests cannot provoke: a process that ignores SIGTERM is SIGKILLed once
the deletion grace period has passed, and only then is the Pod deleted (``gracePeriodSeconds`` 0
and a ``uid`` precondition) after a terminal status; an address that cannot be added leaves every
container waiting ``FailedCreatePodSandBox`` with a message naming the command, and an error in the
log; a worker shut down (the node stopping) or whose Pod vanished stops its processes and frees its
address without writing to the API.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from sandbox.cluster.rest import RawApi
from sandbox.config import parse_sandbox_config
from sandbox.node.addresses import AddressBook, CommandResult, Runner, run_command
from sandbox.node.events import EventRecorder
from sandbox.node.podspec import plan_pod
from sandbox.node.restarts import BackOff
from sandbox.node.worker import NodeServices, PodWorker
from sandbox.processes import ProcessRecord, is_alive
from tests.integration.node.conftest import lo_addresses
from tests.polling import eventually

pytestmark = pytest.mark.integration

IGNORE_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
CONFIG = parse_sandbox_config({
    "commands": {"stubborn": ["{python}", "-c", IGNORE_TERM]},
    "images": {"demo/stubborn:1": {"command": "stubborn"}},
})  # fmt: skip


class RecordingApi(RawApi):
    """Answers every request with ``{}`` and keeps ``(method, path, body)``."""

    def __init__(self) -> None:
        super().__init__(None)  # type: ignore[arg-type]  # never reaches a client
        self.calls: list[tuple[str, str, Any]] = []
        self.lock = threading.Lock()

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | Sequence[Any] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        with self.lock:
            self.calls.append((method, path, body))
        return {}

    def of(self, method: str, suffix: str) -> list[Any]:
        with self.lock:
            return [body for m, path, body in self.calls if m == method and path.endswith(suffix)]


def stubborn_pod(**meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "stubborn", "namespace": "shop", "uid": "u-1", **meta},
        "spec": {
            "nodeName": "sandbox",
            "containers": [{"name": "app", "image": "demo/stubborn:1", "ports": [{"containerPort": 7000}]}],
        },
    }


def worker_for(tmp_path: Path, api: RecordingApi, runner: Runner = run_command) -> PodWorker:
    services = NodeServices(
        rest=api, addresses=AddressBook(tmp_path, runner), events=EventRecorder(api, "sandbox"),
        lookup=lambda *_: None, node_name="sandbox", host_ip="127.0.0.1", workdir=tmp_path,
        backoff=BackOff(initial=0.5, cap=2.0), tick=0.1, stop_grace=0.5,
    )  # fmt: skip
    pod = stubborn_pod()
    return PodWorker(pod, plan_pod(pod, CONFIG), services).start()


def ignores_sigterm(pid: int) -> bool:
    """Whether the process has set SIGTERM to ignored (``SigIgn`` in ``/proc/PID/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def running(worker: PodWorker) -> ProcessRecord:
    (pid,) = eventually(worker.pids, "the container process", timeout=30)
    eventually(lambda: ignores_sigterm(pid), "the process to ignore SIGTERM")
    return ProcessRecord.of(pid)


def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    api = RecordingApi()
    worker = worker_for(tmp_path, api)
    try:
        record = running(worker)
        address = worker.address()
        assert address is not None and address in lo_addresses()
        worker.update(stubborn_pod(deletionTimestamp="2026-01-01T00:00:00Z", deletionGracePeriodSeconds=1))
        assert worker.done.wait(30)
        assert not is_alive(record)
        assert address not in lo_addresses()
        (deletion,) = api.of("DELETE", "/namespaces/shop/pods/stubborn")
        assert deletion["gracePeriodSeconds"] == 0 and deletion["preconditions"] == {"uid": "u-1"}
        final = api.of("PATCH", "/pods/stubborn/status")[-1]["status"]
        assert final["phase"] == "Failed" and final["podIP"] == address
        assert final["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137  # SIGKILL
        reasons = [body["reason"] for body in api.of("POST", "/events")]
        assert reasons[:2] == ["Started", "Killing"]
    finally:
        worker.shutdown()


def test_an_address_that_cannot_be_added_is_a_clear_waiting_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api = RecordingApi()

    def refusing(argv: Sequence[str]) -> CommandResult:
        return CommandResult(2, "RTNETLINK answers: Operation not permitted")

    with caplog.at_level(logging.ERROR, logger="sandbox.node.worker"):
        worker = worker_for(tmp_path, api, refusing)
        try:
            written = eventually(lambda: api.of("PATCH", "/pods/stubborn/status"), "a status write")
        finally:
            worker.shutdown()
    status = written[-1]["status"]
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "FailedCreatePodSandBox"
    assert "`ip addr add 198.18.0.2/32 dev lo`" in waiting["message"]
    assert status["phase"] == "Pending" and "podIP" not in status
    assert worker.pids() == []
    assert any("ip addr add" in r.getMessage() for r in caplog.records)


def test_shutdown_and_a_vanished_pod_stop_the_process_without_api_writes(tmp_path: Path) -> None:
    for stop in (PodWorker.shutdown, PodWorker.vanish):
        api = RecordingApi()
        worker = worker_for(tmp_path / stop.__name__, api)
        try:
            record = running(worker)
            address = worker.address()
            stop(worker)
            assert worker.done.wait(30)
            assert not is_alive(record)  # SIGKILLed after stop_grace
            assert address not in lo_addresses()
            assert api.of("DELETE", "/pods/stubborn") == []
        finally:
            worker.shutdown()
