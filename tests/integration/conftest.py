"""Fixtures shared by integration tests: the API emulator (``apiserver``, one per test), and the real
control plane with its process node (``kube_control_plane``, ``process_node``, one each per session)."""

from sandbox.apiserver.testing import apiserver
from sandbox.kubernetes.testing import kube_control_plane, node_processes, process_node

__all__ = ["apiserver", "kube_control_plane", "node_processes", "process_node"]
