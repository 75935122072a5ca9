"""One request, one transaction: the route class every API router uses.

The unit of work commits after the endpoint returns and before the response is sent, so the
audit rows describing a response are durable before the client sees it. On PostgreSQL a
request that wrote nothing has its audit rows group-committed with other such requests' (see
:mod:`telehealth.audit.committer`) and is answered once that commit is done; on SQLite its
rows commit with its own transaction.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from telehealth.audit.committer import AuditCommitter
from telehealth.clock import Clock
from telehealth.config import Settings
from telehealth.db.reader import FastReader
from telehealth.ports import Ports
from telehealth.scope import Scope, open_scope
from telehealth.web.problems import COMMON_PROBLEMS, problem_responses

if TYPE_CHECKING:
    from telehealth.visits.runtime import VisitsRuntime


@dataclass
class Services:
    """What the composition root hands to requests: the ports and the web process's own
    resources."""

    ports: Ports
    engine: Engine
    sessions: sessionmaker[Session]
    audit_group: AuditCommitter
    reader: FastReader
    # The visits capability's event-loop side: its signaling hub and the loop it runs on.
    visits: VisitsRuntime
    # Requests inside a scope at once. A scope holds a database connection across several
    # thread hops; admitting no more scopes than threads means a request that holds a
    # connection never waits for a thread held by one that waits for a connection.
    admission: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))
    # Set when the server begins to shut down (web/server.py): /readyz answers 503 from then
    # on, so that load balancers stop sending requests here.
    draining: threading.Event = field(default_factory=threading.Event)

    @property
    def settings(self) -> Settings:
        return self.ports.settings

    @property
    def clock(self) -> Clock:
        return self.ports.clock


class ScopedRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        # Declared, so clients (and the API fuzzer) know every error is a problem document;
        # a route's own ``responses=`` adds to or refines these.
        body = "HEAD" not in (kwargs.get("methods") or ())
        responses = self.error_responses(body)
        for status, declared in (kwargs.get("responses") or {}).items():
            merged = {**responses.get(status, {}), **declared}
            responses[status] = merged if body else {"description": merged["description"]}
        kwargs["responses"] = responses
        super().__init__(path, endpoint, **kwargs)

    def error_responses(self, body: bool) -> dict[int | str, dict[str, Any]]:
        """What the route's errors are, for the OpenAPI document (problem documents)."""
        return problem_responses(*COMMON_PROBLEMS, body=body)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = super().get_route_handler()

        async def handler(request: Request) -> Response:
            services: Services = request.app.state.services
            admission = request.state.admission = Admission(services.admission)
            async with admission:
                return await _run_scoped(services, request, endpoint)

        return handler


class Admission:
    """A request's place among the scopes admitted at once (``Services.admission``)."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore = semaphore
        self._held = False

    async def __aenter__(self) -> None:
        await self._semaphore.acquire()
        self._held = True

    async def __aexit__(self, *_exc: object) -> None:
        self._give_back()

    def _give_back(self) -> None:
        if self._held:
            self._held = False
            self._semaphore.release()

    @asynccontextmanager
    async def suspended(self) -> AsyncIterator[None]:
        """Lends the place to other requests while this one waits on its client holding no
        database connection and no thread (a long upload body); takes a place again after.

        Without this, as many slow uploads as there are places would stall every other
        request for as long as their clients take to send.
        """
        self._give_back()
        try:
            yield
        finally:
            await self._semaphore.acquire()  # cancelled here, nothing is held to give back
            self._held = True


def admission_suspended(request: Request) -> AbstractAsyncContextManager[None]:
    admission: Admission = request.state.admission
    return admission.suspended()


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
        services.ports,
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
