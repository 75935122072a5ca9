"""One request, one transaction: the route class every API router uses.

The unit of work commits after the endpoint returns and before the response is sent, so the
audit rows describing a response are durable before the client sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from telehealth.clock import Clock
from telehealth.config import Settings
from telehealth.scope import Scope, open_scope


@dataclass
class Services:
    """What the composition root hands to requests: configuration and shared resources."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    extras: dict[str, Any]


class ScopedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = super().get_route_handler()

        async def handler(request: Request) -> Response:
            services: Services = request.app.state.services
            client = request.client
            scope = open_scope(
                services.sessions,
                services.clock,
                services.settings,
                request_id=getattr(request.state, "request_id", None),
                source_ip=client.host if client else None,
            )
            request.state.scope = scope
            try:
                response = await endpoint(request)
            except BaseException:
                await run_in_threadpool(scope.uow.rollback)
                raise
            await run_in_threadpool(scope.uow.commit)
            return response

        return handler


def request_scope(request: Request) -> Scope:
    scope: Scope = request.state.scope
    return scope
