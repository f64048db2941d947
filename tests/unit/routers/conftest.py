"""Shared route targets for router unit tests."""

from __future__ import annotations

import pytest

from controller.kube.ownership import OwnerRef
from controller.routers.model import RouteTarget

OWNER = OwnerRef("serinus.dev/v1alpha1", "Canary", "podinfo", "uid-1")


@pytest.fixture
def target() -> RouteTarget:
    return RouteTarget(
        namespace="shop",
        service="podinfo",
        port=9898,
        owner=OWNER,
        gateway_refs=({"name": "public", "namespace": "gateway"},),
        ingress_ref="podinfo",
        primary_selector={"app": "podinfo-primary"},
        canary_selector={"app": "podinfo"},
    )
