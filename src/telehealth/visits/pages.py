"""Server-rendered visit pages: the visit room (joined by link), the signed-in visit views and
the coordinators' and administrators' clinician schedules.

The room page carries no token in its URL: the link's fragment holds it, and the page's script
sends it in a header or in the signaling socket's first message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from telehealth.access.service import patient_banner
from telehealth.coding.encounter import EmBasis
from telehealth.errors import DomainError, ErrorCode
from telehealth.identity.model import Actor, Role, time_zone_choices
from telehealth.scope import Scope
from telehealth.visits import (
    access,
    availability,
    booking,
    choices,
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
from telehealth.vocabulary import US_STATES
from telehealth.web.auth import ScopeDep
from telehealth.web.pages import (
    PageActorDep,
    form_failed,
    page,
    refused,
    render,
    see_other,
)
from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)


@router.get("/visits/join", response_class=HTMLResponse)
def visit_room(request: Request) -> HTMLResponse:
    return render(request, "visits/room.html")


@router.get("/visits", response_class=HTMLResponse)
def my_visits(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    visits = access.readable_visits(scope, limit=100, offset=0)
    return render(request, "visits/list.html", {"visits": visits})


# --- booking, cancelling and rescheduling from the pages ------------------------------------------
# One booking path: these pages gather what booking.book needs, step by step, and call it. Every
# step is a post of the same form with the choices so far, so none is lost and no patient's id
# goes into a URL.

# What a visit is for, in the words a patient reads (the rules' purposes).
PURPOSES = {
    "new_problem": "A new health concern",
    "follow_up": "A follow-up on care I already have",
    "mental_health": "My mental health",
}
BOOKING_STEPS = ("patient", "intake", "clinicians", "slots", "confirm", "book")


@dataclass(frozen=True)
class BookingForm:
    """The choices made so far on the booking page."""

    patient_id: str = ""
    located_state: str = ""
    purpose: str = "follow_up"
    specialty: str = ""
    language: str = ""
    video_capable: bool = True
    consents_to_video: bool = True
    clinician_id: str = ""
    slot_start: str = ""
    week: int = 0
    step: str = "intake"

    @classmethod
    def parse(cls, data: Any) -> BookingForm:
        def text(name: str, limit: int = 64) -> str:
            return str(data.get(name, "")).strip()[:limit]

        # A week's button ("Later times") asks for that week's free times.
        step = "slots" if "week" in data else text("step", 16)
        return cls(
            patient_id=text("patient_id"),
            located_state=text("located_state", 2).upper(),
            # Not asked yet (the patient was just chosen): the form's own default.
            purpose=text("purpose", 32) or cls.purpose,
            specialty=text("specialty"),
            language=text("language", 16),
            video_capable=text("video_capable", 3) != "no",
            consents_to_video=text("consents_to_video", 3) != "no",
            clinician_id=text("clinician_id"),
            slot_start=text("slot_start"),
            week=choices.week_number(text("week", 2)),
            step=step if step in BOOKING_STEPS else "intake",
        )


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _patient_id(actor: Actor, form: BookingForm) -> uuid.UUID | None:
    """The patient chosen on the form; a patient books for themselves unless they name
    someone else (whom they then may not read: not found)."""
    chosen = _uuid_or_none(form.patient_id)
    return chosen if chosen is not None or actor.role is not Role.PATIENT else actor.patient_id


def _refuse(message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message)


def _intake(scope: Scope, form: BookingForm) -> booking.Intake:
    if form.located_state not in US_STATES:
        raise _refuse("Choose the state you will be in during the visit.")
    if form.purpose not in PURPOSES:
        raise _refuse("Choose what the visit is for.")
    if form.specialty and form.specialty not in choices.specialties_offered(scope):
        raise _refuse("Choose the kind of care.")
    if form.language and form.language not in choices.languages_offered(scope):
        raise _refuse("Choose a language from the list.")
    return booking.Intake(
        located_state=form.located_state,
        acuity="routine",
        purpose=form.purpose,
        specialty=form.specialty or None,
        video_capable=form.video_capable,
        consents_to_video=form.consents_to_video,
    )


def _booking_context(scope: Scope, form: BookingForm, step: str) -> dict[str, Any]:
    """The booking page as far as ``step`` (and the choices) allow; a choice that is missing
    or no longer offered stops it at its own step, with what to do in plain words."""
    actor = scope.require_actor()
    context: dict[str, Any] = {
        "form": form,
        "step": "patient",
        "error": None,
        "may_book": choices.may_book(scope),
        "is_patient": actor.role is Role.PATIENT,
        "states": sorted(US_STATES),
        "purposes": PURPOSES,
        "specialties": choices.specialties_offered(scope),
        "languages": choices.languages_offered(scope),
        "patients": [],
        "patient": None,
        "zone": None,
        "clinicians": [],
        "clinician": None,
        "week": None,
        "slot": None,
    }
    patient_id = _patient_id(actor, form)
    if patient_id is None or step == "patient":
        # Listed (and each listing audited) only while the patient is being chosen.
        if actor.role is not Role.PATIENT:
            context["patients"] = choices.bookable_patients(scope)
        return context
    patient = choices.patient_to_book_for(scope, patient_id)
    context["patient"] = patient
    context["zone"] = choices.patient_time_zone(scope, patient)
    if not form.located_state:
        form = replace(form, located_state=patient.home_state)
        context["form"] = form
    context["step"] = "intake"
    if step == "intake":
        return context
    try:
        intake = _intake(scope, form)
        context["clinicians"] = choices.clinicians_for(scope, intake, form.language or None)
        context["step"] = "clinicians"
        if step == "clinicians":
            return context
        clinician = next((c for c in context["clinicians"] if str(c.id) == form.clinician_id), None)
        if clinician is None:
            raise _refuse("Choose a clinician from the list.")
        context["clinician"] = clinician
        context["step"] = "slots"
        if step == "slots":
            context["week"] = choices.slot_week(scope, clinician.id, context["zone"], form.week)
            return context
        # The week the chosen time is in: still offered, and shown again above the summary.
        slot = _chosen_time(form.slot_start)
        number = choices.week_of(scope, slot) if slot else form.week
        week = choices.slot_week(scope, clinician.id, context["zone"], number)
        context["week"] = week
        if slot is None or not week.offers(slot):
            raise _refuse("Choose a time from the list.")
        context["slot"] = slot
        context["step"] = "confirm"
    except DomainError as exc:
        if exc.code is not ErrorCode.INVALID_INPUT:
            raise
        context["error"] = exc.message
    return context


@router.get("/visits/book", response_class=HTMLResponse)
def booking_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return page(
        request, scope, "visits/book.html", lambda: _booking_context(scope, BookingForm(), "intake")
    )


@router.post("/visits/book", response_model=None)
async def booking_form(request: Request, actor: PageActorDep, scope: ScopeDep) -> Response:
    form = BookingForm.parse(await request.form())
    if form.step != "book":
        try:
            context = _booking_context(scope, form, form.step)
        except DomainError as exc:
            if exc.code not in (ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND):
                raise
            return refused(request, scope, exc)
        status = 422 if context["error"] else 200
        return render(request, "visits/book.html", context, status_code=status)
    try:
        patient_id = _patient_id(actor, form)
        clinician_id = _uuid_or_none(form.clinician_id)
        if patient_id is None or clinician_id is None:
            raise _refuse("Choose the patient and the clinician.")
        # Whom the actor may not read is not found before any answer is checked.
        choices.patient_to_book_for(scope, patient_id)
        visit, _decision = booking.book(
            scope,
            patient_id=patient_id,
            clinician_id=clinician_id,
            slot_start=_instant(form.slot_start),
            intake=_intake(scope, form),
        )
    except DomainError as exc:
        plain, back_to = _booking_refusal(exc, form)
        return form_failed(
            request,
            scope,
            plain,
            lambda: _booking_context(scope, form, back_to),
            "visits/book.html",
        )
    return see_other(f"/visits/{visit.id}?done=booked")


def _chosen_time(value: str) -> datetime | None:
    """A free time as the page offered it (an aware ISO 8601 instant), else None."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _instant(value: str) -> datetime:
    moment = _chosen_time(value)
    if moment is None:
        raise _refuse("Choose a time from the list.")
    return moment


def _booking_refusal(exc: DomainError, form: BookingForm) -> tuple[DomainError, str]:
    """Booking's refusal in plain words, and the step the page goes back to."""
    if exc.code is ErrorCode.CONFLICT:
        return DomainError(exc.code, "That time was just taken. Please choose another."), "slots"
    if exc.code is ErrorCode.INVALID_STATE:
        message = (
            f"A live visit with this clinician is not possible while in {form.located_state}. "
            "Please choose another clinician, or check the answers above."
        )
        return DomainError(exc.code, message), "clinicians"
    if exc.code is ErrorCode.INVALID_INPUT and exc.data.get("field") == "slot_start":
        return _refuse("That time is no longer offered. Please choose another."), "slots"
    if exc.code is ErrorCode.INVALID_INPUT and exc.data.get("field"):
        return _refuse("Please check the answers above."), "intake"
    return exc, "confirm"


def _change_context(scope: Scope, visit_id: uuid.UUID, week: int | None = None) -> dict[str, Any]:
    """The visit whose booking changes; with ``week``, that week of free times to move it to."""
    visit = choices.visit_to_change(scope, visit_id)
    patient = choices.patient_of_visit(scope, visit)
    zone = choices.patient_time_zone(scope, patient)
    moving = week is not None and visit.status == VisitStatus.BOOKED.value
    return {
        "visit": visit,
        "zone": zone,
        "is_patient": scope.require_actor().role is Role.PATIENT,
        "clinician_name": choices.clinician_name(scope, visit.clinician_id),
        "week": choices.slot_week(scope, visit.clinician_id, zone, week or 0) if moving else None,
        "error": None,
    }


@router.get("/visits/{visit_id}/cancel", response_class=HTMLResponse)
def cancel_page(
    visit_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> HTMLResponse:
    return page(request, scope, "visits/cancel.html", lambda: _change_context(scope, visit_id))


@router.post("/visits/{visit_id}/cancel", response_model=None)
def cancel_form(
    visit_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> Response:
    try:
        booking.cancel(scope, visit_id)
    except DomainError as exc:
        return form_failed(
            request, scope, exc, lambda: _change_context(scope, visit_id), "visits/cancel.html"
        )
    return see_other(f"/visits/{visit_id}?done=cancelled")


@router.get("/visits/{visit_id}/reschedule", response_class=HTMLResponse)
def reschedule_page(
    visit_id: uuid.UUID,
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    week: Annotated[str, Query(max_length=2)] = "0",
) -> HTMLResponse:
    return page(
        request,
        scope,
        "visits/reschedule.html",
        lambda: _change_context(scope, visit_id, choices.week_number(week)),
    )


@router.post("/visits/{visit_id}/reschedule", response_model=None)
async def reschedule_form(
    visit_id: uuid.UUID,
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    runtime: RuntimeDep,
) -> Response:
    data = await request.form()
    try:
        version = str(data.get("expected_version", ""))
        if not version.isdigit():
            raise _refuse("Please open the page again and choose a time.")
        booking.reschedule(
            scope,
            visit_id,
            _instant(str(data.get("slot_start", ""))[:64]),
            runtime.settings,
            version=int(version),
        )
    except DomainError as exc:
        plain = exc
        if exc.code is ErrorCode.CONFLICT:
            plain = DomainError(
                exc.code,
                "The visit changed, or that time was taken, since this page was opened. "
                "Here are the times free now: please choose again.",
            )
        elif exc.code is ErrorCode.INVALID_INPUT:
            plain = _refuse("That time is no longer offered. Please choose another.")
        return form_failed(
            request,
            scope,
            plain,
            lambda: _change_context(scope, visit_id, 0),
            "visits/reschedule.html",
        )
    return see_other(f"/visits/{visit_id}?done=rescheduled")


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
        "signature_due": consented.signature_due,
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
        # Cancel and reschedule, for whoever may move the booking.
        "may_change": visit.status == VisitStatus.BOOKED.value and access.may_change(scope, visit),
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
    us_zones, other_zones = time_zone_choices()
    return {
        "schedules": availability.org_schedules(scope),
        "weekdays": WEEKDAYS,
        "us_zones": us_zones,
        "other_zones": other_zones,
        "error": None,
    }


@router.get("/admin/schedules", response_class=HTMLResponse)
def schedules_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return page(request, scope, "portal/schedules.html", lambda: _schedules_context(scope))


@router.post("/admin/schedules/{clinician_id}/windows", response_model=None)
async def add_window(
    clinician_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> Response:
    """The same hours on each weekday ticked: one window per weekday, all or none."""
    data = await request.form()
    try:
        weekdays = sorted({_weekday(str(v)) for v in data.getlist("weekday")})
        if not weekdays:
            raise DomainError(ErrorCode.INVALID_INPUT, "tick one or more weekdays")
        start, end = (
            _time(str(data.get("start", "")), "start"),
            _time(str(data.get("end", "")), "end"),
        )
        slot_minutes = _whole(str(data.get("slot_minutes", "30")), "slot length")
        for weekday in weekdays:
            window = model.WeeklyWindow(
                str(data.get("time_zone", "")).strip()[:64], weekday, start, end, slot_minutes
            )
            availability.add_org_window(scope, clinician_id, window)
    except DomainError as exc:
        return form_failed(
            request, scope, exc, lambda: _schedules_context(scope), "portal/schedules.html"
        )
    return see_other("/admin/schedules")


@router.post("/admin/schedules/windows/{window_id}/delete", response_model=None)
def delete_window(
    window_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> Response:
    try:
        availability.remove_org_window(scope, window_id)
    except DomainError as exc:
        return form_failed(
            request, scope, exc, lambda: _schedules_context(scope), "portal/schedules.html"
        )
    return see_other("/admin/schedules")


def _weekday(value: str) -> int:
    if value not in {"0", "1", "2", "3", "4", "5", "6"}:
        raise DomainError(ErrorCode.INVALID_INPUT, "tick weekdays from the list")
    return int(value)


def _whole(value: str, field: str) -> int:
    if not value.strip().isdigit():
        raise DomainError(ErrorCode.INVALID_INPUT, f"the {field} is a whole number of minutes")
    return int(value)


def _time(value: str, field: str) -> time:
    try:
        return time.fromisoformat(value.strip())
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "use the form HH:MM", field=field) from exc
