"""The real control plane for tests: ``kube_control_plane``, one per test session.

Its binaries must have been built (``./dev setup``); when they are missing the fixture fails with
that message, it never skips. Tests share the one control plane, so each works in namespaces of its
own (:func:`unique_namespace`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from sandbox.kubernetes.controlplane import ControlPlane, check_built


@pytest.fixture(scope="session")
def kube_control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd, kube-apiserver, kube-controller-manager and kube-scheduler, started once per session."""
    check_built()  # NotBuilt: fail with the command that builds them
    plane = ControlPlane(tmp_path_factory.mktemp("kubernetes")).start()
    try:
        yield plane
    finally:
        plane.stop()


def unique_namespace(prefix: str) -> str:
    """A namespace name no other test uses."""
    return f"{prefix}-{secrets.token_hex(3)}"
