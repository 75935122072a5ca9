"""Server-rendered pages: the shared layout, page authentication and the sign-in page.

Capabilities add their own pages with :func:`render` and :data:`PageActorDep`; a page asked for
without a valid session redirects to sign-in instead of answering 401.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from telehealth.errors import DomainError, ErrorCode
from telehealth.identity import queries
from telehealth.identity import service as identity
from telehealth.identity.model import LANGUAGE_NAMES, Actor, language_name
from telehealth.notifications import service as notifications
from telehealth.scope import Scope
from telehealth.web.auth import (
    ScopeDep,
    authenticate,
    clear_session_cookie,
    client_address,
    set_session_cookie,
)
from telehealth.web.problems import STATUS
from telehealth.web.scoped import ScopedRoute, request_scope
from telehealth.web.times import time_choices, viewer_when

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals["when"] = viewer_when
templates.env.globals["time_choices"] = time_choices
templates.env.globals["language_name"] = language_name
templates.env.globals["language_names"] = LANGUAGE_NAMES

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)

# What the sign-in form answers itself; anything else is an error page.
SIGN_IN_REFUSALS = frozenset(
    {
        ErrorCode.INVALID_CREDENTIALS,
        ErrorCode.MFA_REQUIRED,
        ErrorCode.MFA_INVALID,
        ErrorCode.RATE_LIMITED,
    }
)

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
    scope: Scope | None = getattr(request.state, "scope", None)
    actor = scope.actor if scope is not None else None
    values: dict[str, Any] = {"actor": actor, **(context or {})}
    if scope is not None and actor is not None:
        user = queries.user_by_id(scope.session, actor.user_id)
        values.setdefault("display_name", user.display_name if user else "")
        # The zone the viewer chose on their profile: the layout hands it to localtime.js.
        values.setdefault("viewer_zone", user.time_zone if user else None)
        # Counted only by a template that shows it (the layout's bell): fragments never ask.
        values["unread_notifications"] = partial(notifications.unread_count, scope)
    return templates.TemplateResponse(request, template, values, status_code=status_code)


def sign_in_redirect(request: Request, exc: Exception) -> Response:
    """Sign-in, then back to the page asked for (a page, not a form post)."""
    target = "/login"
    if request.method == "GET":
        asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += "?" + urlencode({"next": asked})
    response = RedirectResponse(target, status_code=303)
    clear_session_cookie(request, response)
    return response


def local_path(value: str) -> str:
    """``value`` if it is a path of this site, else the home page: sign-in sends people on to
    where they were going, never to another site."""
    parts = urlsplit(value)
    same_site = not parts.scheme and not parts.netloc and value.startswith("/")
    if not same_site or value.startswith(("//", "/\\")) or any(c < " " for c in value):
        return "/"
    return value


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "") -> HTMLResponse:
    return render(request, "login.html", {"error": None, "next": local_path(next)})


@router.post("/login", response_class=HTMLResponse, response_model=None)
def login_submit(
    request: Request,
    scope: ScopeDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=256)],
    totp: Annotated[str, Form(max_length=12)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    try:
        issued = identity.login(
            scope, email, password, totp or None, source=client_address(request)
        )
    except DomainError as exc:
        if exc.code not in SIGN_IN_REFUSALS:
            raise
        # Durable failure records still commit, and the failure is counted, on rollback.
        scope.uow.rollback()
        return _sign_in_refused(request, exc, email, local_path(next))
    response = RedirectResponse(local_path(next), status_code=303)
    set_session_cookie(response, issued.secret, scope)
    return response


def _sign_in_refused(request: Request, exc: DomainError, email: str, then: str) -> Response:
    """The sign-in form again, answering as the API does: the same status (and wait) whether
    or not the email has an account."""
    retry_after = exc.data.get("retry_after")
    message = exc.message
    if retry_after is not None:
        message = f"Too many failed attempts. Please wait {retry_after} seconds and try again."
    response = render(
        request,
        "login.html",
        {
            "error": message,
            "email": email,
            "needs_code": exc.code is ErrorCode.MFA_REQUIRED,
            "next": then,
        },
        status_code=STATUS[exc.code],
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.post("/logout", response_model=None)
def logout_submit(request: Request, actor: PageActorDep, scope: ScopeDep) -> Response:
    identity.logout(scope)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(request, response)
    # Tells the browser to drop anything it kept for this site (cache, storage) on sign-out.
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    context: dict[str, Any] = {"now": scope.clock.now()}
    for provider in _dashboards:
        context.update(provider(scope, actor))
    return render(request, "home.html", context)


# --- helpers for capabilities' form pages --------------------------------------------------------

# Failures a form shows beside itself; anything else propagates to the error handler.
FORM_ERRORS = frozenset(
    {
        ErrorCode.INVALID_INPUT,
        ErrorCode.CONFLICT,
        ErrorCode.ALREADY_EXISTS,
        ErrorCode.INVALID_STATE,
        ErrorCode.FORBIDDEN,
    }
)


def refused(request: Request, scope: Scope, exc: DomainError) -> HTMLResponse:
    """An error page for a page that cannot be shown; the work of the request is undone."""
    scope.uow.rollback()
    return render(
        request,
        "portal/error.html",
        {"message": exc.message, "code": exc.code.value},
        status_code=STATUS.get(exc.code, 400),
    )


# What a browser reads when a page cannot be shown, by status (web/problems.py decides when).
ERROR_PAGES = {
    401: ("Please sign in", "Sign in to see this page."),
    403: ("Not available", "You may not open this page."),
    404: ("Not found", "There is nothing here: the link may be wrong, or the page has moved."),
    413: ("Too large", "What you sent is too large."),
    429: ("Too many tries", "Please wait a minute and try again."),
    503: ("Briefly unavailable", "The service is busy or briefly down. Please try again soon."),
    500: ("Something went wrong", "Something went wrong on our side. Please try again soon."),
}


def error_page(request: Request, code: ErrorCode, status: int) -> HTMLResponse:
    """The HTML page a browser gets instead of problem JSON, with a way back. The failed
    request's transaction is already over, so the page reads nothing: no signed-in bar."""
    title, message = ERROR_PAGES.get(
        status, ERROR_PAGES[500] if status >= 500 else ("Not possible", "This cannot be done.")
    )
    values = {"actor": None, "title": title, "message": message, "code": code.value}
    return templates.TemplateResponse(request, "portal/error.html", values, status_code=status)


def page(
    request: Request, scope: Scope, template: str, build: Callable[[], dict[str, Any]]
) -> HTMLResponse:
    """The page built by ``build``, or an error page when its object is refused or hidden."""
    try:
        context = build()
    except DomainError as exc:
        if exc.code not in (ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND):
            raise
        return refused(request, scope, exc)
    return render(request, template, context)


def form_failed(
    request: Request,
    scope: Scope,
    exc: DomainError,
    context: Callable[[], dict[str, Any]],
    template: str,
) -> HTMLResponse:
    """The form's page again with the failure beside it; the request's work is undone first."""
    if exc.code not in FORM_ERRORS:
        if exc.code is ErrorCode.NOT_FOUND:
            return refused(request, scope, exc)
        raise exc
    scope.uow.rollback()
    # Rows the access decisions remembered belong to the undone transaction.
    scope.memo.clear()
    values = context()
    field = exc.data.get("field")
    values["error"] = f"{exc.message} ({field})" if field else exc.message
    return render(request, template, values, status_code=STATUS.get(exc.code, 400))


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def form_date(value: str, field: str, *, required: bool = False) -> date | None:
    value = value.strip()
    if not value:
        if required:
            raise DomainError(ErrorCode.INVALID_INPUT, f"{field} is required", field=field)
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "use the form YYYY-MM-DD", field=field) from exc
