"""Server-rendered portal pages: invite acceptance, the pre-visit intake, the visit side panel,
decision explanations, alert handling and the coordinator/administrator pages.

Forms post back here and call the same services the API uses. A refused or hidden object is
answered with an error page; the service has already audited it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from telehealth.audit.model import Action, ShownEvent
from telehealth.clock import stamp
from telehealth.errors import DomainError, ErrorCode
from telehealth.identity.model import Actor, LicenseKind, Role
from telehealth.portal import service
from telehealth.review.pages import answers_from_form
from telehealth.scope import Scope
from telehealth.vocabulary import CONTROLLED_SCHEDULES, US_STATES
from telehealth.web.auth import ScopeDep
from telehealth.web.pages import PageActorDep, add_dashboard, render
from telehealth.web.problems import STATUS
from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)

Text = Annotated[str, Form(max_length=320)]
LongText = Annotated[str, Form(max_length=4000)]
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
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


def _dashboard(scope: Scope, actor: Actor) -> dict[str, Any]:
    board = service.dashboard(scope, actor)
    return {"dashboard_template": board.template, **board.data}


add_dashboard(_dashboard)


def _refused(request: Request, scope: Scope, exc: DomainError) -> HTMLResponse:
    """An error page for a page that cannot be shown; the work of the request is undone."""
    scope.uow.rollback()
    return render(
        request,
        "portal/error.html",
        {"message": exc.message, "code": exc.code.value},
        status_code=STATUS.get(exc.code, 400),
    )


def _page(
    request: Request, scope: Scope, template: str, build: Callable[[], dict[str, Any]]
) -> HTMLResponse:
    try:
        context = build()
    except DomainError as exc:
        if exc.code not in (ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND):
            raise
        return _refused(request, scope, exc)
    return render(request, template, context)


def _see(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


# --- invites ------------------------------------------------------------------------------------


@router.get("/invite", response_class=HTMLResponse)
def invite_page(request: Request) -> HTMLResponse:
    """The invite token stays in the URL fragment; the page's script posts it to the API."""
    return render(request, "portal/invite.html")


# --- the pre-visit intake -----------------------------------------------------------------------


def _intake_context(scope: Scope, visit_id: uuid.UUID) -> dict[str, Any]:
    view = service.intake_view(scope, visit_id)
    return {
        "view": view,
        "visit": view.visit,
        "case": view.case,
        "form": view.form,
        "decision": view.decision,
        "media_open": view.is_patient
        and view.intake is not None
        and view.intake.completed_at is None,
        "error": None,
    }


@router.get("/portal/visits/{visit_id}/intake", response_class=HTMLResponse)
def intake_page(
    visit_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> HTMLResponse:
    return _page(request, scope, "portal/intake.html", lambda: _intake_context(scope, visit_id))


@router.post("/portal/visits/{visit_id}/intake", response_model=None)
async def intake_submit(
    visit_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> Response:
    data = await request.form()
    try:
        view = service.intake_view(scope, visit_id)
        answers = answers_from_form(view.form, data)
        service.start_intake(scope, visit_id, str(data.get("reason", ""))[:4000], answers)
    except DomainError as exc:
        return _form_failed(request, scope, exc, lambda: _intake_context(scope, visit_id))
    return _see(f"/portal/visits/{visit_id}/intake")


@router.post("/portal/visits/{visit_id}/intake/complete", response_model=None)
def intake_complete(
    visit_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> Response:
    try:
        service.complete_intake(scope, visit_id)
    except DomainError as exc:
        return _form_failed(request, scope, exc, lambda: _intake_context(scope, visit_id))
    return _see(f"/portal/visits/{visit_id}/intake")


def _form_failed(
    request: Request,
    scope: Scope,
    exc: DomainError,
    context: Callable[[], dict[str, Any]],
    template: str = "portal/intake.html",
) -> HTMLResponse:
    if exc.code not in FORM_ERRORS:
        if exc.code is ErrorCode.NOT_FOUND:
            return _refused(request, scope, exc)
        raise exc
    scope.uow.rollback()
    values = context()
    field = exc.data.get("field")
    values["error"] = f"{exc.message} ({field})" if field else exc.message
    return render(request, template, values, status_code=STATUS.get(exc.code, 400))


# --- the visit's side panel and decisions -------------------------------------------------------


@router.get("/portal/visits/{visit_id}/context", response_class=HTMLResponse)
def visit_context_page(
    visit_id: uuid.UUID,
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    fragment: bool = False,
) -> HTMLResponse:
    """Beside the video: the intake, prior reports and monitoring data. ``fragment`` gives the
    panel without the page layout, for the visit room to place next to the call."""
    template = "portal/_context_panel.html" if fragment else "portal/context.html"
    return _page(
        request,
        scope,
        template,
        lambda: {"ctx": service.visit_context(scope, visit_id), "now": scope.clock.now()},
    )


@router.get("/portal/decisions/{decision_id}", response_class=HTMLResponse)
def decision_page(
    decision_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> HTMLResponse:
    return _page(
        request,
        scope,
        "portal/decision.html",
        lambda: {"decision": service.readable_decision(scope, decision_id)},
    )


# --- monitoring alerts --------------------------------------------------------------------------


def _alerts_context(scope: Scope) -> dict[str, Any]:
    return {"rows": service.open_alerts(scope), "error": None}


@router.get("/portal/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return _page(request, scope, "portal/alerts.html", lambda: _alerts_context(scope))


@router.post("/portal/alerts/{alert_id}", response_model=None)
def alert_action(
    alert_id: uuid.UUID,
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    do: Annotated[str, Form(max_length=32)],
) -> Response:
    try:
        service.act_on_alert(scope, alert_id, do)
    except DomainError as exc:
        return _form_failed(
            request, scope, exc, lambda: _alerts_context(scope), "portal/alerts.html"
        )
    return _see("/portal/alerts")


# --- users and credentials ----------------------------------------------------------------------


def _users_context(scope: Scope, invitation: service.Invitation | None = None) -> dict[str, Any]:
    actor = scope.require_actor()
    roles = [Role.CLINICIAN.value]
    if actor.role is Role.ADMIN:
        roles += [Role.COORDINATOR.value, Role.ADMIN.value]
    return {
        "users": service.org_users(scope),
        "roles": roles,
        "states": sorted(US_STATES),
        "invitation": invitation,
        "error": None,
    }


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return _page(request, scope, "portal/users.html", lambda: _users_context(scope))


@router.post("/admin/users", response_model=None)
def invite_staff(
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    email: Text,
    display_name: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=16)],
) -> Response:
    try:
        invitation = service.invite_user(
            scope, email=email.strip(), display_name=display_name.strip(), role=_role(role)
        )
    except DomainError as exc:
        return _form_failed(request, scope, exc, lambda: _users_context(scope), "portal/users.html")
    return render(request, "portal/users.html", _users_context(scope, invitation), status_code=201)


@router.post("/admin/patients", response_model=None)
def invite_patient(
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    given_name: Annotated[str, Form(max_length=120)],
    family_name: Annotated[str, Form(max_length=120)],
    birth_date: Annotated[str, Form(max_length=10)],
    home_state: Annotated[str, Form(max_length=2)],
    email: Text,
) -> Response:
    try:
        invitation = service.invite_patient(
            scope,
            service.PatientInput(
                given_name=given_name.strip(),
                family_name=family_name.strip(),
                birth_date=_date(birth_date, "birth_date", required=True) or date.min,
                home_state=home_state,
                email=email.strip(),
            ),
        )
    except DomainError as exc:
        return _form_failed(request, scope, exc, lambda: _users_context(scope), "portal/users.html")
    return render(request, "portal/users.html", _users_context(scope, invitation), status_code=201)


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "choose a role", field="role") from exc


def _date(value: str, field: str, *, required: bool = False) -> date | None:
    value = value.strip()
    if not value:
        if required:
            raise DomainError(ErrorCode.INVALID_INPUT, f"{field} is required", field=field)
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "use the form YYYY-MM-DD", field=field) from exc


def _clinician_context(scope: Scope, clinician_id: uuid.UUID) -> dict[str, Any]:
    return {
        "creds": service.clinician_credentials(scope, clinician_id),
        "states": sorted(US_STATES),
        "kinds": [k.value for k in LicenseKind],
        "schedules": CONTROLLED_SCHEDULES,
        "error": None,
    }


@router.get("/admin/clinicians/{clinician_id}", response_class=HTMLResponse)
def clinician_page(
    clinician_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> HTMLResponse:
    return _page(
        request, scope, "portal/clinician.html", lambda: _clinician_context(scope, clinician_id)
    )


@router.post("/admin/clinicians/{clinician_id}/licenses", response_model=None)
def add_license(
    clinician_id: uuid.UUID,
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    state: Annotated[str, Form(max_length=2)],
    kind: Annotated[str, Form(max_length=32)],
    number: Annotated[str, Form(max_length=64)],
    expires_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        service.add_license(
            scope,
            clinician_id,
            state=state,
            kind=kind,
            number=number.strip(),
            expires_on=_date(expires_on, "expires_on"),
        )
    except DomainError as exc:
        return _form_failed(
            request,
            scope,
            exc,
            lambda: _clinician_context(scope, clinician_id),
            "portal/clinician.html",
        )
    return _see(f"/admin/clinicians/{clinician_id}")


@router.post("/admin/clinicians/{clinician_id}/dea", response_model=None)
async def add_dea(
    clinician_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> Response:
    data = await request.form()
    try:
        service.add_dea(
            scope,
            clinician_id,
            state=str(data.get("state", ""))[:2],
            number=str(data.get("number", "")).strip()[:16],
            schedules=[str(s) for s in data.getlist("schedules")][:4],
            expires_on=_date(str(data.get("expires_on", ""))[:10], "expires_on"),
        )
    except DomainError as exc:
        return _form_failed(
            request,
            scope,
            exc,
            lambda: _clinician_context(scope, clinician_id),
            "portal/clinician.html",
        )
    return _see(f"/admin/clinicians/{clinician_id}")


# --- schedules and queues -----------------------------------------------------------------------


def _schedules_context(scope: Scope) -> dict[str, Any]:
    return {"schedules": service.org_schedules(scope), "weekdays": WEEKDAYS, "error": None}


@router.get("/admin/schedules", response_class=HTMLResponse)
def schedules_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return _page(request, scope, "portal/schedules.html", lambda: _schedules_context(scope))


@router.post("/admin/schedules/{clinician_id}/windows", response_model=None)
def add_window(
    clinician_id: uuid.UUID,
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    time_zone: Annotated[str, Form(max_length=64)],
    weekday: Annotated[int, Form(ge=0, le=6)],
    start: Annotated[str, Form(max_length=5)],
    end: Annotated[str, Form(max_length=5)],
    slot_minutes: Annotated[int, Form(ge=5, le=240)] = 30,
) -> Response:
    try:
        service.add_window(
            scope,
            clinician_id,
            time_zone=time_zone.strip(),
            weekday=weekday,
            start=_time(start, "start"),
            end=_time(end, "end"),
            slot_minutes=slot_minutes,
        )
    except DomainError as exc:
        return _form_failed(
            request, scope, exc, lambda: _schedules_context(scope), "portal/schedules.html"
        )
    return _see("/admin/schedules")


def _time(value: str, field: str) -> time:
    try:
        return time.fromisoformat(value.strip())
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "use the form HH:MM", field=field) from exc


@router.get("/admin/queues", response_class=HTMLResponse)
def queues_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    def build() -> dict[str, Any]:
        if not actor.is_staff or actor.role is Role.CLINICIAN:
            raise DomainError(ErrorCode.FORBIDDEN, "this page is for coordinators")
        board = service.dashboard(scope, actor)
        return {**board.data, "now": scope.clock.now()}

    return _page(request, scope, "portal/queues.html", build)


# --- audit-log search ---------------------------------------------------------------------------


def _audit_context(scope: Scope, query: service.AuditQuery, searched: bool) -> dict[str, Any]:
    events = service.search_audit(scope, query)
    return {
        "count": len(events),
        "rows": _audit_rows(events),
        "query": query,
        "actions": [a.value for a in Action],
        "searched": searched,
        "error": None,
    }


def _audit_rows(events: Sequence[ShownEvent]) -> Markup:
    """The events as the table's rows, one piece of HTML. The log lists up to 500 rows, and
    escaping each of their cells through the template cost more than the rest of the page;
    here each cell is escaped as plain text and the rows joined once."""
    return Markup("".join(_audit_row(event) for event in events))  # noqa: S704 - escaped


def _audit_row(event: ShownEvent) -> str:
    target = escape(event.object_type)
    if event.object_id:
        target += " " + _short(event.object_id)
    actor = "—"
    if event.actor_id:
        actor = _short(event.actor_id.hex)
        if event.actor_role:
            actor += " " + escape(event.actor_role)
    patient = _short(event.patient_id.hex) if event.patient_id else "—"
    return (
        f"<tr><td>{stamp(event.at, seconds=True)}</td><td>{escape(event.action)}</td>"
        f"<td>{escape(event.outcome)}</td><td>{target}</td><td>{actor}</td>"
        f"<td>{patient}</td><td>{escape(_detail(event))}</td></tr>\n"
    )


def _short(identifier: str) -> str:
    """An identifier's first eight characters, as code."""
    return f"<code>{escape(identifier[:8])}</code>"


def _detail(event: ShownEvent) -> str:
    return ", ".join(f"{key}={value}" for key, value in (event.detail or {}).items())


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return _page(
        request,
        scope,
        "portal/audit.html",
        lambda: _audit_context(scope, service.AuditQuery(limit=50), searched=False),
    )


@router.post("/admin/audit", response_model=None)
async def audit_search(request: Request, actor: PageActorDep, scope: ScopeDep) -> Response:
    """A POST, so the patient and actor searched for stay out of URLs and access logs."""
    data = await request.form()
    try:
        query = service.AuditQuery(
            patient_id=_uuid(str(data.get("patient_id", "")), "patient_id"),
            actor_id=_uuid(str(data.get("actor_id", "")), "actor_id"),
            action=_action(str(data.get("action", ""))),
            since=_day_start(str(data.get("since", ""))[:10], "since"),
            until=_day_start(str(data.get("until", ""))[:10], "until"),
            limit=200,
        )
        context = _audit_context(scope, query, searched=True)
    except DomainError as exc:
        if exc.code is not ErrorCode.INVALID_INPUT:
            return _refused(request, scope, exc)
        return _form_failed(
            request,
            scope,
            exc,
            lambda: _audit_context(scope, service.AuditQuery(limit=50), searched=False),
            "portal/audit.html",
        )
    return render(request, "portal/audit.html", context)


def _uuid(value: str, field: str) -> uuid.UUID | None:
    value = value.strip()
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "not a valid identifier", field=field) from exc


def _action(value: str) -> Action | None:
    if not value:
        return None
    try:
        return Action(value)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "unknown action", field="action") from exc


def _day_start(value: str, field: str) -> datetime | None:
    day = _date(value, field)
    return datetime.combine(day, time(0, 0), tzinfo=UTC) if day else None
