"""Server-rendered monitoring pages: the clinician panel, a patient's readings over time, the
care team's alerts, and the set-up forms (enrolment, devices, thresholds, management time,
messages and visit requests from an alert).

Forms post back here and call the same service functions as the API (which reach every object
through the access loader); their bodies are checked by the API's own schemas, and a refused
form is shown again with the reason beside it, nothing written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import segno
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import BaseModel, ValidationError

from telehealth.access.service import patient_banner
from telehealth.errors import DomainError, ErrorCode
from telehealth.identity.model import Role
from telehealth.monitoring import billing, chart, model
from telehealth.monitoring import service as monitoring
from telehealth.monitoring.consent import signature_wanted
from telehealth.monitoring.schemas import (
    ConsentIn,
    DeviceIn,
    EnrollmentIn,
    MessageIn,
    ThresholdsIn,
    TimeEntryIn,
    TimerStartIn,
    VisitRequestIn,
)
from telehealth.monitoring.tables import Enrollment
from telehealth.scope import Scope
from telehealth.vocabulary import PAYERS
from telehealth.web.auth import ScopeDep
from telehealth.web.pages import PageActorDep, form_failed, page, render, see_other
from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)

DaysParam = Annotated[int, Query(ge=7, le=180)]
Field = Annotated[str, Form(max_length=120)]
Checkbox = Annotated[str, Form(max_length=8)]
Schema = TypeVar("Schema", bound=BaseModel)


def _enrollment_context(scope: Scope, enrollment: Enrollment, days: int) -> dict[str, object]:
    shown = monitoring.enrollment_charts(scope, enrollment, days)
    table = chart.table(shown.readings)
    return {
        "enrollment": enrollment,
        "charts": shown.charts,
        "table": table,
        "table_rows": _table_rows(table),
        "alerts": shown.alerts,
        "days": days,
        "thresholds": shown.limits.as_dict(),
        "rule_words": model.rule_words,
        "measured_words": model.measured_words,
        "limit_words": model.limit_words,
    }


ACTIVITIES = (
    ("data_review", "Reviewing readings"),
    ("care_plan", "Care plan"),
    ("patient_call", "Call with the patient"),
    ("caregiver_call", "Call with a caregiver"),
    ("other", "Other"),
)
THRESHOLD_WORDS = (
    ("systolic_above", "Systolic above", "mmHg"),
    ("diastolic_above", "Diastolic above", "mmHg"),
    ("spo2_below", "Oxygen saturation below", "%"),
    ("heart_rate_above", "Heart rate above", "beats/min"),
    ("heart_rate_below", "Heart rate below", "beats/min"),
    ("glucose_above", "Glucose above", "mg/dL"),
    ("glucose_below", "Glucose below", "mg/dL"),
    ("weight_gain_day_kg", "Weight gain in a day over", "kg"),
    ("weight_gain_week_kg", "Weight gain in a week over", "kg"),
    ("no_data_days", "No readings for", "days"),
)


def _table_rows(table: list[chart.TableRow]) -> Markup:
    """The readings table's rows as one piece of HTML. A month of readings runs to hundreds of
    rows, and escaping each cell through the template cost more than the rest of the page;
    here each cell is escaped as plain text and the rows joined once."""
    return Markup(  # noqa: S704 - every cell is escaped
        "".join(
            f'<tr><td><time datetime="{escape(at[:10])}T{escape(at[11:])}:00Z" '
            f'data-show="datetime">{escape(at)} UTC</time></td><td>{escape(measurement)}</td>'
            f"<td>{escape(value)}</td><td>{escape(unit)}</td>"
            f"<td>{'device clock ahead' if skew else ''}</td></tr>\n"
            for at, measurement, value, unit, skew in table
        )
    )


@router.get("/monitoring", response_class=HTMLResponse)
def panel_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    if not actor.is_staff:
        return render(request, "monitoring/me.html", _patient_context(scope))
    return render(request, "monitoring/panel.html", {"rows": billing.panel(scope)})


def _patient_context(scope: Scope) -> dict[str, object]:
    actor = scope.require_actor()
    if actor.patient_id is None:
        raise DomainError(ErrorCode.FORBIDDEN, "this page is for patients")
    enrollments = monitoring.list_enrollments(scope, actor.patient_id)
    sections = [_enrollment_context(scope, e, 30) for e in enrollments if e.status == "active"]
    return {"sections": sections}


@router.get("/monitoring/me", response_class=HTMLResponse)
def my_readings_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return render(request, "monitoring/me.html", _patient_context(scope))


@router.get("/monitoring/enrollments/{enrollment_id}", response_class=HTMLResponse)
def enrollment_page(
    request: Request,
    enrollment_id: uuid.UUID,
    actor: PageActorDep,
    scope: ScopeDep,
    days: DaysParam = 30,
) -> HTMLResponse:
    return page(
        request,
        scope,
        "monitoring/enrollment.html",
        lambda: _enrollment_page_context(scope, enrollment_id, days),
    )


def _enrollment_page_context(
    scope: Scope, enrollment_id: uuid.UUID, days: int = 30, failed: str | None = None
) -> dict[str, Any]:
    """The enrollment page: who the patient is, their readings and alerts, and for the care team
    the devices and thresholds. The heavier panels (:data:`PANELS`) are placeholders the page's
    script fills from their own routes; a form shown again with its refusal has them all, so the
    refused form is there with the reason beside it."""
    enrollment = monitoring.read_enrollment(scope, enrollment_id)
    context = _enrollment_context(scope, enrollment, days)
    patient = monitoring.patient_of(scope, enrollment)
    actor = scope.require_actor()
    context.update(
        patient_name=f"{patient.given_name} {patient.family_name}",
        # Staff see who the patient is first; the enrollment's loader read the row.
        banner=patient_banner(scope, patient.id) if actor.is_staff else None,
        **_panel_flags(scope),
        triage=actor.role in (Role.CLINICIAN, Role.COORDINATOR),
        failed=failed,
        panels=[(name, panel.heading, panel.top) for name, panel in PANELS.items()],
        inline=failed is not None,
    )
    if not actor.is_staff:
        return context
    context.update(
        requested=monitoring.requested_alerts(scope, enrollment),
        threshold_fields=THRESHOLD_WORDS,
        program_limits=monitoring.program_thresholds(
            scope, enrollment.org_id, model.Program(enrollment.program)
        ).as_dict(),
    )
    if failed is not None:
        for panel in PANELS.values():
            context.update(panel.build(scope, enrollment_id))
    return context


def _panel_flags(scope: Scope) -> dict[str, Any]:
    return {"clinical": scope.require_actor().role is Role.CLINICIAN, "error": None}


# --- the enrollment page's panels loaded after it -------------------------------------------------
# Each is read (and audited) by its own request, through the enrollment's loader as the page is:
# the page answers sooner, and a panel's failure leaves the rest of the page working.


@dataclass(frozen=True)
class Panel:
    heading: str
    template: str
    build: Callable[[Scope, uuid.UUID], dict[str, Any]]
    # Placed at the top of the page, before the alerts, rather than after the thresholds.
    top: bool = False


def _consent_panel(scope: Scope, enrollment_id: uuid.UUID) -> dict[str, Any]:
    enrollment = monitoring.care_team_enrollment(scope, enrollment_id, "consent")
    needs = monitoring.consent_standing(scope, enrollment)
    return {"consent_needs": needs, "signature_wanted": signature_wanted(needs)}


def _billing_panel(scope: Scope, enrollment_id: uuid.UUID) -> dict[str, Any]:
    today = scope.clock.now().date()
    statements = billing.billing(scope, enrollment_id, today.year, today.month)
    return {"billing": statements, "month": statements.month}


def _time_panel(scope: Scope, enrollment_id: uuid.UUID) -> dict[str, Any]:
    enrollment = monitoring.care_team_enrollment(scope, enrollment_id, "management time")
    today = scope.clock.now().date()
    month = model.calendar_month(today.year, today.month)
    return {
        "time_entries": monitoring.time_entries_in(scope, enrollment, month),
        "timer": monitoring.running_timer(scope, enrollment),
        "today": today,
        "activities": ACTIVITIES,
        "activity_words": dict(ACTIVITIES),
    }


def _devices_panel(scope: Scope, enrollment_id: uuid.UUID) -> dict[str, Any]:
    # Read with the enrollment, whose read every panel's route records (serial numbers
    # identify the patient's devices).
    enrollment = monitoring.care_team_enrollment(scope, enrollment_id, "the device list")
    return {"devices": monitoring.devices(scope, enrollment)}


def _messages_panel(scope: Scope, enrollment_id: uuid.UUID) -> dict[str, Any]:
    return {"messages": monitoring.list_messages(scope, enrollment_id)}


# The care team's panels, in their order at the end of the page.
PANELS = {
    "consent": Panel("Consent", "monitoring/_consent.html", _consent_panel, top=True),
    "billing": Panel("Billing this month", "monitoring/_billing.html", _billing_panel),
    "time": Panel("Care-management time", "monitoring/_time.html", _time_panel),
    "devices": Panel("Devices", "monitoring/_devices.html", _devices_panel),
    "messages": Panel("Messages", "monitoring/_messages.html", _messages_panel),
}


def _panel_page(
    request: Request, scope: Scope, enrollment_id: uuid.UUID, name: str, fragment: bool
) -> HTMLResponse:
    """One panel: with ``fragment``, the panel alone for the enrollment page's script to place;
    without, a page of its own (the link a browser without scripts follows)."""
    panel = PANELS[name]

    def build() -> dict[str, Any]:
        context = panel.build(scope, enrollment_id)
        # The panel's read found the enrollment (the access memo has it); recorded as the
        # enrollment page records it, as the panel shows it.
        enrollment = monitoring.read_enrollment(scope, enrollment_id)
        context.update(_panel_flags(scope), enrollment=enrollment, failed=None, panel=panel)
        actor = scope.require_actor()
        if not fragment:
            patient = monitoring.patient_of(scope, enrollment)
            context.update(
                patient_name=f"{patient.given_name} {patient.family_name}",
                banner=patient_banner(scope, patient.id) if actor.is_staff else None,
            )
        return context

    template = panel.template if fragment else "monitoring/enrollment_panel.html"
    return page(request, scope, template, build)


def _panel_route(name: str) -> Callable[..., HTMLResponse]:
    def panel_page(
        request: Request,
        enrollment_id: uuid.UUID,
        actor: PageActorDep,
        scope: ScopeDep,
        fragment: bool = False,
    ) -> HTMLResponse:
        return _panel_page(request, scope, enrollment_id, name, fragment)

    panel_page.__name__ = f"{name}_panel"
    return panel_page


# GET /monitoring/enrollments/{id}/consent, /billing, /time, /devices and /messages (the
# access matrix has each).
for _name in PANELS:
    router.add_api_route(
        f"/monitoring/enrollments/{{enrollment_id}}/{_name}",
        _panel_route(_name),
        methods=["GET"],
        response_class=HTMLResponse,
    )


def _enrollment_form(
    request: Request,
    scope: Scope,
    enrollment_id: uuid.UUID,
    name: str,
    action: Callable[[], object],
) -> Response:
    """Runs a form of the enrollment page; back to the page, at the form, when it is done."""
    try:
        action()
    except DomainError as exc:
        return form_failed(
            request,
            scope,
            exc,
            lambda: _enrollment_page_context(scope, enrollment_id, failed=name),
            "monitoring/enrollment.html",
        )
    return see_other(f"/monitoring/enrollments/{enrollment_id}#{name}")


def _valid(schema: type[Schema], data: dict[str, Any]) -> Schema:
    """A form's fields checked by the API's schema for the same action; the first problem is
    told in words, naming the field by its label."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][-1]) if first["loc"] else "form"
        label = LABELS.get(name, name.replace("_", " "))
        message = str(first["msg"]).removeprefix("Value error, ")
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"{label}: {message[:1].lower()}{message[1:]}"
        ) from exc


LABELS = {
    "given_by": "Consent given by",
    "method": "How consent was given",
    "at": "When consent was given",
    "episode_start": "Episode start",
    "episode_end": "Episode end",
    "program": "Program",
    "payer": "Payer",
    "device_type": "Device type",
    "meets_fda_definition": "Meets the FDA device definition",
    "minutes": "Minutes",
    "performed_on": "Day",
    "activity": "Activity",
    "body": "Message",
    "modality": "Kind of visit",
    "no_data_days": "No data for (days)",
}


def _checked(value: str) -> bool:
    return value in ("on", "true", "1", "yes")


def _optional(value: str) -> str | None:
    return value.strip() or None


# --- enrolment ----------------------------------------------------------------------------------


def _enrol_context(scope: Scope, values: dict[str, str] | None = None) -> dict[str, Any]:
    actor = scope.require_actor()
    return {
        "patients": monitoring.patients_to_enrol(scope) if actor.role is Role.CLINICIAN else [],
        "programs": [p.value for p in model.Program],
        "payers": PAYERS,
        "today": scope.clock.now().date(),
        "values": values or {},
        "error": None,
    }


@router.get("/monitoring/enrol", response_class=HTMLResponse)
def enrol_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    def build() -> dict[str, Any]:
        monitoring.patients_to_enrol(scope, limit=1)  # refuses anyone who may not enrol
        return _enrol_context(scope)

    return page(request, scope, "monitoring/enrol.html", build)


def _consent_moment(value: str, zone: str, now: datetime) -> datetime:
    """The consent time typed in the viewer's zone (the page's script names it; UTC without
    it); empty means now."""
    if not value.strip():
        return now
    try:
        typed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "When consent was given: enter a date and a time"
        ) from exc
    try:
        where = ZoneInfo(zone) if zone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        where = UTC
    return typed.replace(tzinfo=where) if typed.tzinfo is None else typed


@router.post("/monitoring/enrol", response_model=None)
def enrol_submit(
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    patient_id: Annotated[str, Form(max_length=40)] = "",
    program: Field = "",
    payer: Field = "medicare",
    episode_start: Field = "",
    episode_end: Field = "",
    consent_given_by: Field = "",
    consent_method: Field = "",
    consent_at: Field = "",
    time_zone: Field = "",
    consent_confirmed: Checkbox = "",
) -> Response:
    values = {
        "patient_id": patient_id,
        "program": program,
        "payer": payer,
        "episode_start": episode_start,
        "episode_end": episode_end,
        "consent_given_by": consent_given_by,
        "consent_method": consent_method,
        "consent_at": consent_at,
    }
    try:
        try:
            patient = uuid.UUID(patient_id)
        except ValueError as exc:
            raise DomainError(ErrorCode.INVALID_INPUT, "Patient: choose a patient") from exc
        if not _checked(consent_confirmed):
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "Consent: confirm that the patient or their representative agreed to remote "
                "monitoring and was told that cost sharing may apply",
            )
        body = _valid(
            EnrollmentIn,
            {
                "program": program,
                "payer": payer,
                "episode_start": episode_start,
                "episode_end": _optional(episode_end),
                "consent": {
                    "given_by": consent_given_by,
                    "method": consent_method,
                    "at": _consent_moment(consent_at, time_zone, scope.clock.now()),
                },
            },
        )
        enrollment = monitoring.enroll(scope, patient, body.as_input())
    except DomainError as exc:
        return form_failed(
            request, scope, exc, lambda: _enrol_context(scope, values), "monitoring/enrol.html"
        )
    return see_other(f"/monitoring/enrollments/{enrollment.id}")


# --- devices ------------------------------------------------------------------------------------


def _qr_svg(text: str) -> Markup:
    """The pairing token as a QR code, an inline SVG with a title (no style attribute: the
    pages' policy allows none)."""
    code = segno.make(text, error="m")
    svg = code.svg_inline(border=4, omitsize=True, svgclass="qr")
    labelled = svg.replace("<svg ", '<svg role="img" aria-label="QR code of the pairing token" ', 1)
    return Markup(labelled)  # noqa: S704 - drawn by segno from the token (URL-safe characters)


@router.post("/monitoring/enrollments/{enrollment_id}/devices", response_model=None)
def device_submit(
    request: Request,
    enrollment_id: uuid.UUID,
    actor: PageActorDep,
    scope: ScopeDep,
    device_type: Field = "",
    manufacturer: Field = "",
    model_name: Field = "",
    serial: Field = "",
    meets_fda_definition: Checkbox = "",
) -> Response:
    try:
        body = _valid(
            DeviceIn,
            {
                "device_type": device_type,
                "manufacturer": manufacturer.strip(),
                "model": model_name.strip(),
                "serial": serial.strip(),
                "meets_fda_definition": _checked(meets_fda_definition),
            },
        )
        device, token = monitoring.add_device(scope, enrollment_id, body.as_input())
    except DomainError as exc:
        return form_failed(
            request,
            scope,
            exc,
            lambda: _enrollment_page_context(scope, enrollment_id, failed="devices"),
            "monitoring/enrollment.html",
        )
    # Answered here, not redirected: the token exists only in this response.
    return render(
        request,
        "monitoring/device_issued.html",
        {
            "device": device,
            "enrollment_id": enrollment_id,
            "token": token,
            "qr": _qr_svg(token),
            "ingest_url": str(request.base_url).rstrip("/") + "/v1/monitoring/ingest/readings",
        },
        status_code=201,
    )


# --- consent recorded again -----------------------------------------------------------------------


@router.post("/monitoring/enrollments/{enrollment_id}/consent", response_model=None)
def consent_submit(
    request: Request,
    enrollment_id: uuid.UUID,
    actor: PageActorDep,
    scope: ScopeDep,
    consent_given_by: Field = "",
    consent_method: Field = "",
    consent_at: Field = "",
    time_zone: Field = "",
) -> Response:
    """A renewed consent, or the signed statement verbal consent awaited."""

    def record() -> object:
        body = _valid(
            ConsentIn,
            {
                "given_by": consent_given_by,
                "method": consent_method,
                "at": _consent_moment(consent_at, time_zone, scope.clock.now()),
            },
        )
        data = monitoring.ConsentInput(given_by=body.given_by, method=body.method, at=body.at)
        return monitoring.record_consent(scope, enrollment_id, data)

    return _enrollment_form(request, scope, enrollment_id, "consent", record)


# --- thresholds ---------------------------------------------------------------------------------


Limit = Annotated[str, Form(max_length=16)]


@router.post("/monitoring/enrollments/{enrollment_id}/thresholds", response_model=None)
def thresholds_submit(
    request: Request,
    enrollment_id: uuid.UUID,
    actor: PageActorDep,
    scope: ScopeDep,
    systolic_above: Limit = "",
    diastolic_above: Limit = "",
    spo2_below: Limit = "",
    heart_rate_above: Limit = "",
    heart_rate_below: Limit = "",
    glucose_above: Limit = "",
    glucose_below: Limit = "",
    weight_gain_day_kg: Limit = "",
    weight_gain_week_kg: Limit = "",
    no_data_days: Limit = "",
) -> Response:
    typed = {
        "systolic_above": systolic_above,
        "diastolic_above": diastolic_above,
        "spo2_below": spo2_below,
        "heart_rate_above": heart_rate_above,
        "heart_rate_below": heart_rate_below,
        "glucose_above": glucose_above,
        "glucose_below": glucose_below,
        "weight_gain_day_kg": weight_gain_day_kg,
        "weight_gain_week_kg": weight_gain_week_kg,
        "no_data_days": no_data_days,
    }
    # An empty box turns its rule off.
    data = {name: _optional(value) for name, value in typed.items()}
    return _enrollment_form(
        request,
        scope,
        enrollment_id,
        "thresholds",
        lambda: monitoring.edit_patient_thresholds(
            scope, enrollment_id, _valid(ThresholdsIn, data).model_dump()
        ),
    )


# --- management time ----------------------------------------------------------------------------


@router.post("/monitoring/enrollments/{enrollment_id}/timer", response_model=None)
def timer_submit(
    request: Request,
    enrollment_id: uuid.UUID,
    actor: PageActorDep,
    scope: ScopeDep,
    do: Annotated[str, Form(max_length=8)],
    activity: Field = "data_review",
    interactive: Checkbox = "",
) -> Response:
    def act() -> object:
        if do == "start":
            chosen = _valid(TimerStartIn, {"activity": activity}).activity
            return monitoring.start_timer(scope, enrollment_id, chosen)
        if do == "stop":
            return monitoring.stop_timer(scope, enrollment_id, _checked(interactive))
        raise DomainError(ErrorCode.INVALID_INPUT, "Timer: start or stop it")

    return _enrollment_form(request, scope, enrollment_id, "time", act)


@router.post("/monitoring/enrollments/{enrollment_id}/time", response_model=None)
def time_submit(
    request: Request,
    enrollment_id: uuid.UUID,
    actor: PageActorDep,
    scope: ScopeDep,
    minutes: Field = "",
    performed_on: Field = "",
    activity: Field = "data_review",
    interactive: Checkbox = "",
) -> Response:
    def act() -> object:
        body = _valid(
            TimeEntryIn,
            {
                "minutes": minutes.strip(),
                "performed_on": performed_on.strip(),
                "activity": activity,
                "interactive": _checked(interactive),
            },
        )
        return monitoring.log_time(
            scope,
            enrollment_id,
            minutes=body.minutes,
            performed_on=body.performed_on,
            interactive=body.interactive,
            activity=body.activity,
        )

    return _enrollment_form(request, scope, enrollment_id, "time", act)


# --- messages and visit requests ----------------------------------------------------------------


@router.post("/monitoring/enrollments/{enrollment_id}/messages", response_model=None)
def message_submit(
    request: Request,
    enrollment_id: uuid.UUID,
    actor: PageActorDep,
    scope: ScopeDep,
    body: Annotated[str, Form(max_length=4000)] = "",
    alert_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    def act() -> object:
        checked = _valid(MessageIn, {"body": body.strip(), "alert_id": _optional(alert_id)})
        return monitoring.send_message(scope, enrollment_id, checked.body, checked.alert_id)

    return _enrollment_form(request, scope, enrollment_id, "messages", act)


@router.post("/monitoring/alerts/{alert_id}/visit-request", response_model=None)
def visit_request_submit(
    request: Request,
    alert_id: uuid.UUID,
    actor: PageActorDep,
    scope: ScopeDep,
    modality: Annotated[str, Form(max_length=24)] = "sync_audio_video",
) -> Response:
    try:
        chosen = _valid(VisitRequestIn, {"modality": modality}).modality
        made = monitoring.request_visit(scope, alert_id, chosen)
    except DomainError as exc:
        return _alert_form_failed(request, scope, exc, alert_id)
    return see_other(f"/monitoring/enrollments/{made.enrollment_id}#alerts")


def _alert_form_failed(
    request: Request, scope: Scope, exc: DomainError, alert_id: uuid.UUID
) -> Response:
    """The alert's enrollment page again with the refusal beside its alerts (read only for the
    failures a form shows: a hidden alert is not found, as always)."""

    def context() -> dict[str, Any]:
        enrollment_id = monitoring.readable_alert(scope, alert_id)[1].id
        return _enrollment_page_context(scope, enrollment_id, failed="alerts")

    return form_failed(request, scope, exc, context, "monitoring/enrollment.html")


# --- the care team's alert list -----------------------------------------------------------------


def _alerts_context(scope: Scope) -> dict[str, Any]:
    rows = monitoring.open_alerts(scope, states=monitoring.UNRESOLVED_ALERT_STATES)
    return {"rows": rows, "error": None}


@router.get("/portal/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return page(request, scope, "portal/alerts.html", lambda: _alerts_context(scope))


@router.post("/portal/alerts/{alert_id}", response_model=None)
def alert_action(
    alert_id: uuid.UUID,
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    do: Annotated[str, Form(max_length=32)],
    back: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Acknowledge, escalate or resolve; from the enrollment page (``back=enrollment``) the
    answer goes back there."""
    try:
        found = monitoring.act_on_alert(scope, alert_id, do)
    except DomainError as exc:
        if back == "enrollment":
            return _alert_form_failed(request, scope, exc, alert_id)
        return form_failed(
            request, scope, exc, lambda: _alerts_context(scope), "portal/alerts.html"
        )
    if back == "enrollment":
        return see_other(f"/monitoring/enrollments/{found.enrollment_id}#alerts")
    return see_other("/portal/alerts")
