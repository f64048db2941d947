"""Fixtures: the emulator with the Canary CRD, and the real-client `Objects` port."""

from tests.integration.routers.cluster import api, objects

__all__ = ["api", "objects"]
