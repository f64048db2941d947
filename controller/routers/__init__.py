"""Traffic routers: one pure builder per provider, a registry by name, and a thin apply side."""

from controller.routers.apply import FakeRouter, Router, RouterAdapter
from controller.routers.model import ALL_PRIMARY, RouterError, RouteTarget, Weights
from controller.routers.registry import ROUTERS, UnknownProvider, get_router
from controller.routers.target import route_target

__all__ = ["ALL_PRIMARY", "ROUTERS", "FakeRouter", "RouteTarget", "Router", "RouterAdapter", "RouterError",
           "UnknownProvider", "Weights", "get_router", "route_target"]
