"""Run the emulator inside a test process: a background thread with its own event loop, on a free
port, with a kubeconfig file and the fault switchboard. `apiserver` is the pytest fixture."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from sandbox.apiserver.faults import Faults
from sandbox.apiserver.kubeconfig import write_kubeconfig
from sandbox.apiserver.server import ApiServer

T = TypeVar("T")


@dataclass
class RunningApiServer:
    """A started emulator: `url`, `kubeconfig` (path) and `faults` (all off by default)."""

    url: str
    kubeconfig: Path
    faults: Faults
    server: ApiServer
    loop: asyncio.AbstractEventLoop

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the server's event loop (the store is not thread-safe) and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def set_history_limit(self, events: int) -> None:
        """Retain only `events` watch events: older resourceVersions then answer 410 Gone."""
        self.call(lambda: self.server.store.set_history_limit(events))

    def set_bookmark_interval(self, seconds: float) -> None:
        """Send a BOOKMARK on watches that allow them every `seconds` (kube-apiserver: about a minute)."""
        self.call(lambda: setattr(self.server, "bookmark_interval", seconds))

    @property
    def resource_version(self) -> int:
        """The current global resourceVersion."""
        return self.call(lambda: self.server.store.resource_version)


@contextlib.contextmanager
def running_apiserver(
    directory: Path, history: int = 1000, bookmark_interval: float = 10.0
) -> Iterator[RunningApiServer]:
    """Start an emulator on 127.0.0.1 (free port) in a thread; stop it on exit."""
    server = ApiServer(history=history, bookmark_interval=bookmark_interval)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stopping: list[asyncio.Event] = []
    failure: list[BaseException] = []
    ports: list[int] = []

    async def main() -> None:
        stop = asyncio.Event()
        stopping.append(stop)
        try:
            ports.append(await server.start("127.0.0.1", 0))
        except BaseException as err:
            failure.append(err)
            ready.set()
            raise
        ready.set()
        await stop.wait()
        await server.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="apiserver", daemon=True)
    thread.start()
    ready.wait(10)
    if failure or not ports:
        raise RuntimeError(f"the API emulator did not start: {failure[0] if failure else 'timeout'}")
    url = f"http://127.0.0.1:{ports[0]}"
    config = write_kubeconfig(directory / "kubeconfig", url)
    try:
        yield RunningApiServer(url, config, server.faults, server, loop)
    finally:
        loop.call_soon_threadsafe(stopping[0].set)
        thread.join(10)
        loop.close()


@pytest.fixture
def apiserver(tmp_path: Path) -> Iterator[RunningApiServer]:
    """A fresh API emulator per test: `.url`, `.kubeconfig`, `.faults`."""
    with running_apiserver(tmp_path) as running:
        yield running
