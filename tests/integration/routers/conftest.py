"""Fixtures: the emulator with mesh CRDs, and the real-client `Objects` port."""

from tests.integration.routers.cluster import api, objects

__all__ = ["api", "objects"]
