"""Server-rendered pages: the shared layout, page authentication and the sign-in page.

Capabilities add their own pages with :func:`render` and :data:`PageActorDep`; a page asked for
without a valid session redirects to sign-in instead of answering 401.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from telehealth.errors import DomainError, ErrorCode
from telehealth.identity import repository
from telehealth.identity import service as identity
from telehealth.identity.model import Actor
from telehealth.scope import Scope
from telehealth.web.auth import SESSION_COOKIE, ScopeDep, authenticate
from telehealth.web.scoped import ScopedRoute, request_scope

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)

SIGN_IN_ERRORS = {
    ErrorCode.NOT_AUTHENTICATED,
    ErrorCode.SESSION_EXPIRED,
    ErrorCode.TOKEN_INVALID,
    ErrorCode.MFA_REQUIRED,
}


class SignInRequired(Exception):
    """Raised by page dependencies; answered with a redirect to the sign-in page."""


def page_actor(request: Request) -> Actor:
    scope = request_scope(request)
    try:
        return authenticate(request, scope)
    except DomainError as exc:
        if exc.code in SIGN_IN_ERRORS:
            raise SignInRequired from exc
        raise


PageActorDep = Annotated[Actor, Depends(page_actor)]

DashboardProvider = Callable[[Scope, Actor], dict[str, Any]]
_dashboards: list[DashboardProvider] = []


def add_dashboard(provider: DashboardProvider) -> None:
    """Lets a capability fill the home page for the signed-in role (the web layer knows none)."""
    if provider not in _dashboards:
        _dashboards.append(provider)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    scope = getattr(request.state, "scope", None)
    actor = scope.actor if scope is not None else None
    values: dict[str, Any] = {"actor": actor, **(context or {})}
    if actor is not None and "display_name" not in values:
        user = repository.user_by_id(scope.session, actor.user_id)  # type: ignore[union-attr]
        values["display_name"] = user.display_name if user else ""
    return templates.TemplateResponse(request, template, values, status_code=status_code)


def sign_in_redirect(request: Request, exc: Exception) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", {"error": None})


@router.post("/login", response_class=HTMLResponse, response_model=None)
def login_submit(
    request: Request,
    scope: ScopeDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=256)],
    totp: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    try:
        issued = identity.login(scope, email, password, totp or None)
    except DomainError as exc:
        if exc.code not in (
            ErrorCode.INVALID_CREDENTIALS,
            ErrorCode.MFA_REQUIRED,
            ErrorCode.MFA_INVALID,
            ErrorCode.ACCOUNT_LOCKED,
        ):
            raise
        # Durable failure records still commit: the scope rolls back only on exceptions.
        scope.uow.rollback()
        return render(
            request,
            "login.html",
            {
                "error": exc.message,
                "email": email,
                "needs_code": exc.code is ErrorCode.MFA_REQUIRED,
            },
            status_code=401 if exc.code is not ErrorCode.ACCOUNT_LOCKED else 429,
        )
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        issued.secret,
        httponly=True,
        secure=scope.settings.secure_cookies,
        samesite="strict",
        path="/",
        max_age=scope.settings.session_absolute_hours * 3600,
    )
    return response


@router.post("/logout", response_model=None)
def logout_submit(request: Request, actor: PageActorDep, scope: ScopeDep) -> Response:
    identity.logout(scope)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    # Tells the browser to drop anything it kept for this site (cache, storage) on sign-out.
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    context: dict[str, Any] = {"now": scope.clock.now()}
    for provider in _dashboards:
        context.update(provider(scope, actor))
    return render(request, "home.html", context)
