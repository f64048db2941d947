"""Fixtures of the end-to-end tests: one sandbox per session."""

from tests.e2e.sandbox_fixture import sandbox

__all__ = ["sandbox"]
