"""Clients of the API emulator for the conformance tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.apiserver.testing import RunningApiServer
from tests.integration.apiserver.clients import Kubectl, client


@pytest.fixture
def kubectl(apiserver: RunningApiServer, tmp_path: Path) -> Kubectl:
    """The real kubectl pointed at the emulator."""
    return Kubectl(apiserver.kubeconfig, tmp_path / "kube-cache")


@pytest.fixture
def api_client(apiserver: RunningApiServer) -> Iterator[Any]:
    """A kubernetes ApiClient pointed at the emulator."""
    api = client(apiserver.kubeconfig)
    yield api
    api.close()
