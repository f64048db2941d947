"""Fixtures shared by integration tests."""

from sandbox.apiserver.testing import apiserver

__all__ = ["apiserver"]
