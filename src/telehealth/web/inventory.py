"""The application's route inventory, read from the router itself rather than from the docs.

Used by the access matrix and by checks that every API route runs in a request scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, WebSocketRoute


@dataclass(frozen=True)
class RouteInfo:
    method: str  # an HTTP method, or "WS" for a WebSocket route
    path: str
    route: BaseRoute


def iter_routes(app: FastAPI) -> Iterator[RouteInfo]:
    yield from _walk(app.routes, "")


def _walk(routes: Iterable[BaseRoute], prefix: str) -> Iterator[RouteInfo]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(included.routes, prefix + getattr(context, "prefix", ""))
        elif isinstance(route, APIRoute):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield RouteInfo(method, prefix + route.path, route)
        elif isinstance(route, WebSocketRoute):
            yield RouteInfo("WS", prefix + route.path, route)
