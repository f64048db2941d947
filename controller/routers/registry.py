"""The registry of traffic providers, keyed by the Canary's `spec.provider`."""

from __future__ import annotations

from collections.abc import Callable

from controller.routers.gatewayapi import GatewayApiRouter
from controller.routers.istio import IstioRouter
from controller.routers.kubernetes import KubernetesRouter
from controller.routers.model import RouteProvider, RouterError
from controller.routers.nginx import NginxRouter
from controller.routers.smi import SmiRouter

RouterFactory = Callable[[], RouteProvider]

ROUTERS: dict[str, RouterFactory] = {
    "gatewayapi": GatewayApiRouter,
    "istio": IstioRouter,
    "smi": SmiRouter,
    "nginx": NginxRouter,
    "kubernetes": KubernetesRouter,
}


class UnknownProvider(RouterError):
    """`spec.provider` names no registered router."""


def get_router(name: str) -> RouteProvider:
    """The provider registered as `name`; `UnknownProvider` (listing the known names) otherwise."""
    factory = ROUTERS.get(name)
    if factory is None:
        raise UnknownProvider(f"unknown provider {name!r}; known providers: {', '.join(sorted(ROUTERS))}")
    return factory()
