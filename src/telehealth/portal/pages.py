"""Server-rendered portal pages: the role dashboards, the pre-visit intake, the visit side
panel, decision explanations and the coordinators' queues.

Forms post back here and call the same services the API uses. A refused or hidden object is
answered with an error page; the service has already audited it.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from telehealth.access.service import require_org_manager
from telehealth.errors import DomainError, ErrorCode
from telehealth.identity.model import Actor, Role
from telehealth.portal import impact, service
from telehealth.review.pages import answers_from_form
from telehealth.scope import Scope
from telehealth.web.auth import ScopeDep
from telehealth.web.pages import (
    PageActorDep,
    add_dashboard,
    form_failed,
    page,
    refused,
    see_other,
)
from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)


def _dashboard(scope: Scope, actor: Actor) -> dict[str, Any]:
    board = service.dashboard(scope, actor)
    return {"dashboard_template": board.template, **board.data}


add_dashboard(_dashboard)


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
    return page(request, scope, "portal/intake.html", lambda: _intake_context(scope, visit_id))


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
        return _intake_failed(request, scope, exc, visit_id)
    return see_other(f"/portal/visits/{visit_id}/intake")


@router.post("/portal/visits/{visit_id}/intake/complete", response_model=None)
def intake_complete(
    visit_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> Response:
    try:
        service.complete_intake(scope, visit_id)
    except DomainError as exc:
        return _intake_failed(request, scope, exc, visit_id)
    return see_other(f"/portal/visits/{visit_id}/intake")


def _intake_failed(
    request: Request, scope: Scope, exc: DomainError, visit_id: uuid.UUID
) -> HTMLResponse:
    return form_failed(
        request, scope, exc, lambda: _intake_context(scope, visit_id), "portal/intake.html"
    )


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
    return page(
        request,
        scope,
        template,
        lambda: {"ctx": service.visit_context(scope, visit_id), "now": scope.clock.now()},
    )


@router.get("/portal/decisions/{decision_id}", response_class=HTMLResponse)
def decision_page(
    decision_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> HTMLResponse:
    return page(
        request,
        scope,
        "portal/decision.html",
        lambda: (
            {"summary": service.decision_for_patient(scope, decision_id)}
            if actor.role is Role.PATIENT
            else {"decision": service.readable_decision(scope, decision_id)}
        ),
    )


# --- queues (coordinators and administrators) -------------------------------------------------


@router.get("/admin/queues", response_class=HTMLResponse)
def queues_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    def build() -> dict[str, Any]:
        require_org_manager(scope)
        board = service.dashboard(scope, actor)
        return {**board.data, "now": scope.clock.now()}

    return page(request, scope, "portal/queues.html", build)


# --- the cliff report (coordinators and administrators) ---------------------------------------

# The days after the federal flexibilities end: the DEA's on 2026-12-31, Medicare's on 2027-12-31.
CLIFFS = (date(2027, 1, 1), date(2028, 1, 1))


def _impact_dates(today: date, start: str | None, end: str | None) -> tuple[date, date, str | None]:
    """The report's dates (defaults: today, and the next cliff after it), or the form's error."""
    default_end = next((c for c in CLIFFS if c > today), today + timedelta(days=365))
    try:
        first = date.fromisoformat(start) if start else today
        later = date.fromisoformat(end) if end else default_end
    except ValueError:
        return today, default_end, "Enter both dates as YYYY-MM-DD."
    if later <= first:
        return first, later, "The later date must be after the first date."
    return first, later, None


@router.get("/admin/impact", response_class=HTMLResponse)
def impact_page(
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    revision: Annotated[str | None, Query(max_length=64)] = None,
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    def build() -> dict[str, Any]:
        require_org_manager(scope)
        first, later, error = _impact_dates(scope.clock.now().date(), start, end)
        report = None if error else impact.impact(scope, first, later)
        dates = {"from": first.isoformat(), "to": later.isoformat()}
        return {
            # The rule-update notice links here with the revision it tells of.
            "revision_rows": impact.revision_rows(scope) if revision else None,
            "report": report,
            "patients": report.patient_page(page_number) if report else None,
            "error": error,
            "from_value": start or first.isoformat(),
            "to_value": end or later.isoformat(),
            "query": urlencode(dates),
            # Page links keep the dates (and the rule update being read, if any).
            "page_query": urlencode({**dates, **({"revision": revision} if revision else {})}),
        }

    return page(request, scope, "portal/impact.html", build)


@router.get("/admin/impact.csv", response_model=None)
def impact_csv(
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    try:
        require_org_manager(scope)
        first, later, error = _impact_dates(scope.clock.now().date(), start, end)
        if error:
            raise DomainError(ErrorCode.INVALID_INPUT, error)
        report = impact.impact(scope, first, later)
    except DomainError as exc:
        if exc.code not in (ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND):
            raise
        return refused(request, scope, exc)
    name = f"policy-impact-{first.isoformat()}-to-{later.isoformat()}.csv"
    return Response(
        report.csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
