"""Authentication dependencies: bearer tokens for API clients, session cookies for pages."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from telehealth.errors import DomainError, ErrorCode
from telehealth.identity import service as identity
from telehealth.identity.fast import bearer_actor
from telehealth.identity.model import Actor
from telehealth.scope import Scope
from telehealth.web.scoped import Services, request_scope

SESSION_COOKIE = "th_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Declared in the OpenAPI document (either one will do): they only read what
# :func:`current_actor` checks, so clients and the API fuzzer know which routes need a credential.
_BEARER = HTTPBearer(auto_error=False, description="an API token")
_COOKIE = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="a page session")


async def _scope_dependency(request: Request) -> Scope:
    # A coroutine, so that the framework does not hand this lookup to a worker thread.
    return request_scope(request)


ScopeDep = Annotated[Scope, Depends(_scope_dependency)]


def authenticate(request: Request, scope: Scope) -> Actor:
    if request.headers.get("authorization"):
        token = bearer_token(request)
        if token is None:
            raise DomainError(ErrorCode.NOT_AUTHENTICATED, "authentication required")
        actor = identity.resolve_token(scope, token)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise DomainError(ErrorCode.NOT_AUTHENTICATED, "authentication required")
        _check_origin(request, scope)
        actor = identity.resolve_session(scope, cookie)
    if actor.needs_mfa:
        raise DomainError(ErrorCode.MFA_REQUIRED, "this role needs a multi-factor sign-in")
    scope.act_as(actor)
    return actor


def bearer_token(request: Request) -> str | None:
    """The token of a well-formed ``Authorization: Bearer`` header, else None."""
    kind, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if kind.lower() != "bearer" or not token:
        return None
    return token


def _check_origin(request: Request, scope: Scope) -> None:
    """Cookie-authenticated writes must come from our own pages (cookies are SameSite=Strict)."""
    if request.method not in UNSAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is None:
        return
    allowed = {_origin(scope.settings.public_url), _origin(str(request.base_url))}
    if _origin(origin) not in allowed:
        raise DomainError(ErrorCode.FORBIDDEN, "cross-origin request refused")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def current_actor(
    request: Request,
    scope: ScopeDep,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    _cookie: Annotated[str | None, Depends(_COOKIE)],
) -> Actor:
    """The request's actor. A bearer token is checked by one statement, batched with other
    requests' on the event loop (``identity.fast``); a session cookie, or a token that check
    does not accept, goes through :func:`authenticate` on a worker thread, which decides and
    says why."""
    token = bearer_token(request)
    if token is not None:
        services: Services = request.app.state.services
        actor = await bearer_actor(services.reader, token, scope.clock.now())
        if actor is not None:
            scope.act_as(actor)
            return actor
    return await run_in_threadpool(authenticate, request, scope)


ActorDep = Annotated[Actor, Depends(current_actor)]
