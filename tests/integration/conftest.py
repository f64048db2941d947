"""Fixtures shared by integration tests: the API emulator (``apiserver``, one per test) and the real
control plane (``kube_control_plane``, one per session)."""

from sandbox.apiserver.testing import apiserver
from sandbox.kubernetes.testing import kube_control_plane

__all__ = ["apiserver", "kube_control_plane"]
