"""Authentication dependencies: bearer tokens for API clients, session cookies for pages."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from telehealth.errors import DomainError, ErrorCode
from telehealth.identity import service as identity
from telehealth.identity.fast import bearer_actor, usable_here
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


def set_session_cookie(response: Response, secret: str, scope: Scope) -> None:
    """The session cookie (ADR 0009): SameSite=Lax, so a link followed from another site (an
    email, a chat) arrives signed in; cross-site writes are refused by :func:`_check_origin`."""
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        httponly=True,
        secure=scope.settings.secure_cookies,
        samesite="lax",
        path="/",
        max_age=scope.settings.session_absolute_hours * 3600,
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    """Drops the session cookie the request carried. A request that carried none (a browser
    may withhold it) must not wipe the one the browser keeps."""
    if SESSION_COOKIE in request.cookies:
        response.delete_cookie(SESSION_COOKIE, path="/")


def authenticate(request: Request, scope: Scope, *, scoped: bool = False) -> Actor:
    """The request's actor, from its bearer token or session cookie. ``scoped``: the route
    honours SMART scopes (the FHIR API); elsewhere a token limited to scopes is refused, so a
    narrow token cannot escape them (ADR 0021)."""
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
    if not usable_here(actor, scoped=scoped):
        raise DomainError(
            ErrorCode.FORBIDDEN, "this token is limited to SMART scopes: use it on the FHIR API"
        )
    scope.act_as(actor)
    return actor


def bearer_token(request: Request) -> str | None:
    """The token of a well-formed ``Authorization: Bearer`` header, else None."""
    kind, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if kind.lower() != "bearer" or not token:
        return None
    return token


def client_address(request: Request) -> str:
    """Where a request came from, as sign-in throttling counts it: the connecting peer, or the
    address a configured trusted proxy forwarded (``TELEHEALTH_TRUSTED_PROXIES``; the
    application's outer layer puts it in place of the proxy's). Headers from anyone else are
    not believed."""
    return request.client.host if request.client else "unknown"


def _check_origin(request: Request, scope: Scope) -> None:
    """Cookie-authenticated writes must come from our own pages (ADR 0009). The session cookie
    is SameSite=Lax, which browsers withhold from cross-site POSTs; this check is the defence
    that does not depend on that: a browser says where a write comes from (Sec-Fetch-Site,
    Origin, or failing both the Referer), and anything not from this origin is refused. A
    request that says nothing comes from no browser, so no other site can have sent it."""
    if request.method not in UNSAFE_METHODS:
        return
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise DomainError(ErrorCode.FORBIDDEN, "cross-origin request refused")
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return
    allowed = {_origin(scope.settings.base_url), _origin(str(request.base_url))}
    if _origin(claimed) not in allowed:
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
    says why. A token limited to SMART scopes is refused here (:func:`scoped_actor` takes it)."""
    return await _resolve(request, scope, scoped=False)


async def scoped_actor(
    request: Request,
    scope: ScopeDep,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    _cookie: Annotated[str | None, Depends(_COOKIE)],
) -> Actor:
    """The request's actor for a route that honours SMART scopes (the FHIR API): as
    :func:`current_actor`, and a token limited to scopes is accepted, its scopes on the
    actor."""
    return await _resolve(request, scope, scoped=True)


async def _resolve(request: Request, scope: Scope, *, scoped: bool) -> Actor:
    token = bearer_token(request)
    if token is not None:
        services: Services = request.app.state.services
        actor = await bearer_actor(services.reader, token, scope.clock.now(), scoped=scoped)
        if actor is not None:
            scope.act_as(actor)
            return actor
    return await run_in_threadpool(lambda: authenticate(request, scope, scoped=scoped))


ActorDep = Annotated[Actor, Depends(current_actor)]
ScopedActorDep = Annotated[Actor, Depends(scoped_actor)]
