"""Server-rendered portal pages: the role dashboards, the pre-visit intake, the visit side
panel, decision explanations and the coordinators' queues.

Forms post back here and call the same services the API uses. A refused or hidden object is
answered with an error page; the service has already audited it.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from telehealth.errors import DomainError, ErrorCode
from telehealth.identity.model import Actor, Role
from telehealth.portal import service
from telehealth.review.pages import answers_from_form
from telehealth.scope import Scope
from telehealth.web.auth import ScopeDep
from telehealth.web.pages import (
    PageActorDep,
    add_dashboard,
    form_failed,
    page,
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
        if not actor.is_staff or actor.role is Role.CLINICIAN:
            raise DomainError(ErrorCode.FORBIDDEN, "this page is for coordinators")
        board = service.dashboard(scope, actor)
        return {**board.data, "now": scope.clock.now()}

    return page(request, scope, "portal/queues.html", build)
