"""Server-rendered visit pages: the visit room (joined by link), the signed-in visit views and
the coordinators' and administrators' clinician schedules.

The room page carries no token in its URL: the link's fragment holds it, and the page's script
sends it in a header or in the signaling socket's first message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from telehealth.access.service import patient_banner
from telehealth.coding.encounter import EmBasis
from telehealth.errors import DomainError, ErrorCode
from telehealth.scope import Scope
from telehealth.visits import (
    access,
    availability,
    consent,
    links,
    messages,
    model,
    notes,
    session_record,
)
from telehealth.visits.model import VisitStatus
from telehealth.visits.runtime import RuntimeDep
from telehealth.visits.tables import Visit
from telehealth.web.auth import ScopeDep
from telehealth.web.pages import PageActorDep, form_failed, page, render, see_other
from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)


@router.get("/visits/join", response_class=HTMLResponse)
def visit_room(request: Request) -> HTMLResponse:
    return render(request, "visits/room.html")


@router.get("/visits", response_class=HTMLResponse)
def my_visits(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    visits = access.readable_visits(scope, limit=100, offset=0)
    return render(request, "visits/list.html", {"visits": visits})


@router.get("/visits/{visit_id}", response_class=HTMLResponse)
def visit_page(
    request: Request, visit_id: uuid.UUID, actor: PageActorDep, scope: ScopeDep
) -> HTMLResponse:
    return render(request, "visits/detail.html", _record_context(scope, visit_id))


def _record_context(scope: Scope, visit_id: uuid.UUID) -> dict[str, Any]:
    """The visit record page: what a reader of the visit sees, and for the clinician who
    conducts it, the note and billing with its codes and forms."""
    visit = access.readable_visit(scope, visit_id)
    consented = consent.consent_status(scope, visit)
    conducts = access.conducts(scope, visit)
    choosing = conducts and visit.status == VisitStatus.COMPLETED.value and visit.em_code is None
    participants = links.participants_view(scope, visit)
    staff = scope.require_actor().is_staff
    note = notes.note_view(scope, visit)
    return {
        "visit": visit,
        # Staff see who the patient is first; the visit's loader read the row and the read.
        "banner": patient_banner(scope, visit.patient_id) if staff else None,
        "consents": consented.given,
        "outstanding": consented.outstanding,
        "record": session_record.session_record(scope, visit),
        # Patients read the note once it is signed, as their visit summary; drafts are staff's.
        "note": note if staff or (note and note["signed_at"]) else None,
        "participants": participants,
        # Joins and leaves name the person, not the participant's id.
        "names": {p["id"]: p["display_name"] for p in participants},
        "messages": messages.messages_view(scope, visit),
        "conducts": conducts,
        # Patients read their visit in plain words; codes are for staff.
        "show_codes": staff,
        "em_choices": session_record.em_choices(scope, visit) if choosing else [],
        "error": None,
    }


def _record_form(
    request: Request, scope: Scope, visit_id: uuid.UUID, work: Callable[[Visit], object]
) -> Response:
    """A form of the clinician on the visit record: ``work`` on the visit they conduct, then
    back to the record, or the record again with the failure beside the forms."""
    try:
        work(access.clinician_visit(scope, visit_id, lock=True))
    except DomainError as exc:
        return form_failed(
            request, scope, exc, lambda: _record_context(scope, visit_id), "visits/detail.html"
        )
    return see_other(f"/visits/{visit_id}")


@router.post("/visits/{visit_id}/note", response_model=None)
def write_note_form(
    visit_id: uuid.UUID,
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    body: Annotated[str, Form(min_length=1, max_length=50_000)],
    version: Annotated[int | None, Form(ge=1)] = None,
) -> Response:
    return _record_form(
        request, scope, visit_id, lambda visit: notes.write_note(scope, visit, body, version)
    )


@router.post("/visits/{visit_id}/note/sign", response_model=None)
def sign_note_form(
    visit_id: uuid.UUID,
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    runtime: RuntimeDep,
) -> Response:
    return _record_form(
        request, scope, visit_id, lambda visit: notes.sign_note(scope, visit, runtime.settings)
    )


@router.post("/visits/{visit_id}/note/amendments", response_model=None)
def amend_note_form(
    visit_id: uuid.UUID,
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    body: Annotated[str, Form(min_length=1, max_length=50_000)],
) -> Response:
    return _record_form(
        request, scope, visit_id, lambda visit: notes.amend_note(scope, visit, body)
    )


@router.post("/visits/{visit_id}/em", response_model=None)
def choose_em_form(
    visit_id: uuid.UUID,
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    em_code: Annotated[str, Form(max_length=5)],
    em_basis: Annotated[EmBasis, Form()],
) -> Response:
    return _record_form(
        request,
        scope,
        visit_id,
        lambda visit: session_record.choose_em(scope, visit, em_code, em_basis),
    )


# --- clinicians' schedules (coordinators and administrators) ------------------------------------

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _schedules_context(scope: Scope) -> dict[str, Any]:
    return {"schedules": availability.org_schedules(scope), "weekdays": WEEKDAYS, "error": None}


@router.get("/admin/schedules", response_class=HTMLResponse)
def schedules_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return page(request, scope, "portal/schedules.html", lambda: _schedules_context(scope))


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
        window = model.WeeklyWindow(
            time_zone.strip(), weekday, _time(start, "start"), _time(end, "end"), slot_minutes
        )
        availability.add_org_window(scope, clinician_id, window)
    except DomainError as exc:
        return form_failed(
            request, scope, exc, lambda: _schedules_context(scope), "portal/schedules.html"
        )
    return see_other("/admin/schedules")


def _time(value: str, field: str) -> time:
    try:
        return time.fromisoformat(value.strip())
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "use the form HH:MM", field=field) from exc
