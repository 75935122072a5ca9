"""One request, one transaction: the route class every API router uses.

The unit of work commits after the endpoint returns and before the response is sent, so the
audit rows describing a response are durable before the client sees it. A request that wrote
nothing has its audit rows group-committed with other such requests' (see
:mod:`telehealth.audit.committer`) and is answered once that commit is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from telehealth.audit.committer import AuditCommitter
from telehealth.clock import Clock
from telehealth.config import Settings
from telehealth.db.reader import FastReader
from telehealth.scope import Scope, open_scope


@dataclass
class Services:
    """What the composition root hands to requests: configuration and shared resources."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    audit_group: AuditCommitter
    reader: FastReader
    extras: dict[str, Any]
    # Requests inside a scope at once. A scope holds a database connection across several
    # thread hops; admitting no more scopes than threads means a request that holds a
    # connection never waits for a thread held by one that waits for a connection.
    admission: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))


class ScopedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = super().get_route_handler()

        async def handler(request: Request) -> Response:
            services: Services = request.app.state.services
            async with services.admission:
                return await _run_scoped(services, request, endpoint)

        return handler


def request_scope(request: Request) -> Scope:
    scope: Scope = request.state.scope
    return scope


async def _run_scoped(
    services: Services,
    request: Request,
    endpoint: Callable[[Request], Coroutine[Any, Any, Response]],
) -> Response:
    client = request.client
    scope = open_scope(
        services.sessions,
        services.clock,
        services.settings,
        request_id=getattr(request.state, "request_id", None),
        source_ip=client.host if client else None,
        audit_group=services.audit_group,
    )
    request.state.scope = scope
    try:
        response = await endpoint(request)
    except BaseException:
        await run_in_threadpool(scope.uow.rollback)
        raise
    await run_in_threadpool(scope.uow.commit)
    await scope.audit.durable()
    return response
