"""The session-wide sandbox fixture: ``sandbox`` brings one sandbox up before the first test that asks
for it and down after the last (import it into a ``conftest.py`` to use it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.session import Sandbox


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A running sandbox (API emulator, controllers, Envoy, Prometheus, git daemon, 20 rps of traffic)."""
    running = Sandbox.up(tmp_path_factory.mktemp("sandbox"))
    try:
        yield running
    finally:
        running.down()
