"""The sandbox fixture: ``sandbox`` brings one sandbox up for the tests of a module that ask for it and
down after the module's last (import it into a ``conftest.py`` to use it). Per module, not per
session: a session-wide one, with its steady traffic, Envoy and 1 s scrapes, would load the machine
through every later test of the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.session import Sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A running sandbox (API emulator, controllers, Envoy, Prometheus, git daemon, 20 rps of traffic)."""
    running = Sandbox.up(tmp_path_factory.mktemp("sandbox"))
    try:
        yield running
    finally:
        running.down()
