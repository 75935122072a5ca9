"""HTTP routes of the monitoring capability.

People use their own credentials; devices post readings with a device token (``Authorization:
Bearer thd_...``) that reaches the two ingestion routes of its own device and nothing else.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from telehealth import bounds
from telehealth.errors import DomainError, ErrorCode
from telehealth.monitoring import billing, fhir, ingest, model, pages
from telehealth.monitoring import service as monitoring
from telehealth.monitoring.consent import ConsentNeed
from telehealth.monitoring.schemas import (
    AlertOut,
    AlertTransitionIn,
    BillingOut,
    ConsentIn,
    ConsentNeedOut,
    DeviceIn,
    DeviceIssuedOut,
    DeviceOut,
    EnrollmentIn,
    EnrollmentOut,
    EpisodeEndIn,
    IngestOut,
    LineOut,
    MessageIn,
    MessageOut,
    PanelRowOut,
    ReadingBatchIn,
    ReadingOut,
    StatementOut,
    ThresholdsIn,
    ThresholdsOut,
    TimeEntryIn,
    TimeEntryOut,
    TimerStartIn,
    TimerStopIn,
    VisitRequestIn,
    VisitRequestOut,
)
from telehealth.monitoring.tables import (
    Alert,
    Device,
    Enrollment,
    Message,
    Reading,
    TimeEntry,
)
from telehealth.scope import Scope
from telehealth.web.auth import ActorDep, ScopeDep
from telehealth.web.problems import problem
from telehealth.web.scoped import ScopedRoute, request_scope

router = APIRouter(route_class=ScopedRoute)
router.include_router(pages.router)

TAG = "monitoring"


# --- device authentication --------------------------------------------------------------------


# Declared in the OpenAPI document only; the service checks the token.
_DEVICE_TOKEN = HTTPBearer(
    scheme_name="DeviceToken", auto_error=False, description="a device token (thd_...)"
)


def current_device(
    request: Request,
    _token: Annotated[HTTPAuthorizationCredentials | None, Depends(_DEVICE_TOKEN)],
) -> tuple[Device, Enrollment]:
    scope = request_scope(request)
    kind, _, token = request.headers.get("authorization", "").partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise DomainError(ErrorCode.NOT_AUTHENTICATED, "authentication required")
    return monitoring.authenticate_device(scope, token.strip())


DeviceDep = Annotated[tuple[Device, Enrollment], Depends(current_device)]


# --- conversions ------------------------------------------------------------------------------


def _device_out(device: Device) -> DeviceOut:
    return DeviceOut(
        id=device.id,
        device_type=device.device_type,
        manufacturer=device.manufacturer,
        model=device.model,
        serial=device.serial,
        meets_fda_definition=device.meets_fda_definition,
        created_at=device.created_at,
        last_received_at=device.last_received_at,
        revoked=device.revoked_at is not None,
    )


def _thresholds_out(limits: model.Thresholds) -> ThresholdsOut:
    return ThresholdsOut.model_validate(limits.as_dict())


def _enrollment_out(scope: Scope, enrollment: Enrollment) -> EnrollmentOut:
    return EnrollmentOut(
        id=enrollment.id,
        patient_id=enrollment.patient_id,
        clinician_id=enrollment.clinician_id,
        program=model.Program(enrollment.program),
        payer=enrollment.payer,
        status=enrollment.status,
        episode_start=enrollment.episode_start,
        episode_end=enrollment.episode_end,
        consent_given_by=enrollment.consent_given_by,
        consent_method=enrollment.consent_method,
        consent_at=enrollment.consent_at,
        consent_recorded_by=enrollment.consent_recorded_by,
        thresholds=_thresholds_out(monitoring.thresholds_for(scope, enrollment)),
        devices=[_device_out(d) for d in monitoring.devices(scope, enrollment)],
    )


def _alert_out(alert: Alert) -> AlertOut:
    return AlertOut(
        id=alert.id,
        enrollment_id=alert.enrollment_id,
        patient_id=alert.patient_id,
        device_id=alert.device_id,
        kind=alert.kind,
        rule=alert.rule,
        metric=alert.metric,
        limit_value=alert.limit_value,
        observed_value=alert.observed_value,
        observed_at=alert.observed_at,
        status=alert.status,
        created_at=alert.created_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        escalated_at=alert.escalated_at,
        escalated_by=alert.escalated_by,
        resolved_at=alert.resolved_at,
        resolved_by=alert.resolved_by,
    )


def _reading_out(reading: Reading) -> ReadingOut:
    return ReadingOut(
        id=reading.id,
        device_id=reading.device_id,
        code=reading.code,
        metric=reading.metric,
        value=reading.value,
        unit=reading.unit,
        effective_at=reading.effective_at,
        received_at=reading.received_at,
        clock_skew=reading.clock_skew,
    )


def _message_out(message: Message) -> MessageOut:
    return MessageOut(
        id=message.id,
        enrollment_id=message.enrollment_id,
        alert_id=message.alert_id,
        sender_id=message.sender_id,
        body=message.body,
        created_at=message.created_at,
    )


def _time_out(entry: TimeEntry) -> TimeEntryOut:
    return TimeEntryOut(
        id=entry.id,
        enrollment_id=entry.enrollment_id,
        clinician_id=entry.clinician_id,
        source=entry.source,
        activity=entry.activity,
        performed_on=entry.performed_on,
        started_at=entry.started_at,
        ended_at=entry.ended_at,
        minutes=entry.minutes,
        interactive=entry.interactive,
    )


def _statement_out(coded: billing.CodedStatement) -> StatementOut:
    statement = coded.statement
    return StatementOut(
        kind=statement.kind,
        period_start=statement.period.start,
        period_end=statement.period.end,
        complete=coded.complete,
        data_days=statement.data_days,
        management_minutes=statement.management_minutes,
        interactive=statement.interactive,
        lines=[
            LineOut(code=line.code, units=line.units, rationale=line.rationale)
            for line in statement.lines
        ],
        reason=coded.reason,
        findings=list(statement.notes),
    )


# --- enrollment and devices -------------------------------------------------------------------


@router.post(
    "/v1/monitoring/patients/{patient_id}/enrollments",
    tags=[TAG],
    status_code=201,
    response_model=EnrollmentOut,
)
def enroll(
    patient_id: uuid.UUID, body: EnrollmentIn, actor: ActorDep, scope: ScopeDep
) -> EnrollmentOut:
    return _enrollment_out(scope, monitoring.enroll(scope, patient_id, body.as_input()))


@router.get(
    "/v1/monitoring/patients/{patient_id}/enrollments",
    tags=[TAG],
    response_model=list[EnrollmentOut],
)
def list_enrollments(
    patient_id: uuid.UUID, actor: ActorDep, scope: ScopeDep
) -> list[EnrollmentOut]:
    return [_enrollment_out(scope, e) for e in monitoring.list_enrollments(scope, patient_id)]


@router.get("/v1/monitoring/enrollments/{enrollment_id}", tags=[TAG], response_model=EnrollmentOut)
def get_enrollment(enrollment_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> EnrollmentOut:
    return _enrollment_out(scope, monitoring.read_enrollment(scope, enrollment_id))


@router.post(
    "/v1/monitoring/enrollments/{enrollment_id}/end", tags=[TAG], response_model=EnrollmentOut
)
def end_episode(
    enrollment_id: uuid.UUID, body: EpisodeEndIn, actor: ActorDep, scope: ScopeDep
) -> EnrollmentOut:
    return _enrollment_out(scope, monitoring.end_episode(scope, enrollment_id, body.episode_end))


@router.get(
    "/v1/monitoring/enrollments/{enrollment_id}/consent",
    tags=[TAG],
    response_model=list[ConsentNeedOut],
)
def consent_standing(
    enrollment_id: uuid.UUID, actor: ActorDep, scope: ScopeDep
) -> list[ConsentNeedOut]:
    """The consent rules for the enrollment's monitoring and how its consent stands."""
    enrollment = monitoring.read_enrollment(scope, enrollment_id)
    return [_need_out(n) for n in monitoring.consent_standing(scope, enrollment)]


@router.post(
    "/v1/monitoring/enrollments/{enrollment_id}/consent",
    tags=[TAG],
    response_model=EnrollmentOut,
)
def record_consent(
    enrollment_id: uuid.UUID, body: ConsentIn, actor: ActorDep, scope: ScopeDep
) -> EnrollmentOut:
    """A renewed consent, or the signed statement verbal consent awaited."""
    data = monitoring.ConsentInput(given_by=body.given_by, method=body.method, at=body.at)
    return _enrollment_out(scope, monitoring.record_consent(scope, enrollment_id, data))


def _need_out(need: ConsentNeed) -> ConsentNeedOut:
    return ConsentNeedOut(
        detail=need.detail,
        citation=need.citation,
        form=need.form,
        renewal=need.renewal,
        verbal_accepted=need.verbal_accepted,
        shortfall=need.shortfall.value if need.shortfall else None,
        why=need.why,
        signature_due=need.signature_due,
        renew_by=need.renew_by,
    )


@router.put(
    "/v1/monitoring/enrollments/{enrollment_id}/thresholds",
    tags=[TAG],
    response_model=ThresholdsOut,
)
def set_patient_thresholds(
    enrollment_id: uuid.UUID, body: ThresholdsIn, actor: ActorDep, scope: ScopeDep
) -> ThresholdsOut:
    overrides = body.model_dump(exclude_unset=True)
    return _thresholds_out(monitoring.set_patient_thresholds(scope, enrollment_id, overrides))


@router.get(
    "/v1/monitoring/programs/{program}/thresholds", tags=[TAG], response_model=ThresholdsOut
)
def get_program_thresholds(
    program: model.Program, actor: ActorDep, scope: ScopeDep
) -> ThresholdsOut:
    return _thresholds_out(monitoring.read_program_thresholds(scope, program))


@router.put(
    "/v1/monitoring/programs/{program}/thresholds", tags=[TAG], response_model=ThresholdsOut
)
def set_program_thresholds(
    program: model.Program, body: ThresholdsIn, actor: ActorDep, scope: ScopeDep
) -> ThresholdsOut:
    limits = body.model_dump(exclude_unset=True)
    return _thresholds_out(monitoring.set_program_thresholds(scope, program, limits))


@router.post(
    "/v1/monitoring/enrollments/{enrollment_id}/devices",
    tags=[TAG],
    status_code=201,
    response_model=DeviceIssuedOut,
)
def add_device(
    enrollment_id: uuid.UUID, body: DeviceIn, actor: ActorDep, scope: ScopeDep
) -> DeviceIssuedOut:
    device, token = monitoring.add_device(scope, enrollment_id, body.as_input())
    return DeviceIssuedOut(device=_device_out(device), token=token)


@router.post("/v1/monitoring/devices/{device_id}/revoke", tags=[TAG], response_model=DeviceOut)
def revoke_device(device_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> DeviceOut:
    return _device_out(monitoring.revoke_device(scope, device_id))


# --- ingestion (device token) -----------------------------------------------------------------


def _ingest_response(request: Request, result: ingest.IngestResult) -> JSONResponse | IngestOut:
    if not result.ok:
        first = result.rejected[0]
        count = len(result.rejected)
        errors = [{"index": r.index, "code": r.code, "reason": r.reason} for r in result.rejected]
        detail = f"{count} reading{'s' if count != 1 else ''} refused; first: {first.message}"
        return problem(
            ErrorCode.INVALID_INPUT,
            detail,
            request,
            extra={"errors": errors, "field": f"readings[{first.index}]"},
        )
    return IngestOut(
        received=result.received,
        stored=result.stored,
        duplicates=result.duplicates,
        clock_skew=result.clock_skew,
        alerts=result.alerts,
    )


@router.post(
    "/v1/monitoring/ingest/readings",
    tags=[TAG],
    response_model=IngestOut,
    responses={422: {"description": "refused readings, named by index and code"}},
)
def ingest_readings(
    request: Request, body: ReadingBatchIn, device: DeviceDep, scope: ScopeDep
) -> JSONResponse | IngestOut:
    raws = [
        model.RawReading(i, r.code, r.value, r.unit, r.effective)
        for i, r in enumerate(body.readings)
    ]
    found, enrollment = device
    return _ingest_response(request, ingest.ingest(scope, found, enrollment, raws))


@router.post(
    "/v1/monitoring/ingest/fhir",
    tags=[TAG],
    response_model=IngestOut,
    responses={422: {"description": "refused readings, named by entry index and code"}},
)
def ingest_fhir(
    request: Request, body: fhir.Bundle, device: DeviceDep, scope: ScopeDep
) -> JSONResponse | IngestOut:
    raws, problems = fhir.bundle_readings(body)
    found, enrollment = device
    return _ingest_response(request, ingest.ingest(scope, found, enrollment, raws, problems))


# --- readings and alerts ----------------------------------------------------------------------


@router.get(
    "/v1/monitoring/enrollments/{enrollment_id}/readings",
    tags=[TAG],
    response_model=list[ReadingOut],
)
def list_readings(
    enrollment_id: uuid.UUID,
    actor: ActorDep,
    scope: ScopeDep,
    since: bounds.Moment | None = None,
    until: bounds.Moment | None = None,
    limit: Annotated[int, bounds.limit(5000)] = 1000,
) -> list[ReadingOut]:
    end = until or scope.clock.now() + timedelta(days=1)
    start = since or end - timedelta(days=90)
    found = monitoring.list_readings(scope, enrollment_id, start, end, limit)
    return [_reading_out(r) for r in found]


@router.get(
    "/v1/monitoring/enrollments/{enrollment_id}/alerts", tags=[TAG], response_model=list[AlertOut]
)
def list_alerts(enrollment_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> list[AlertOut]:
    return [_alert_out(a) for a in monitoring.list_alerts(scope, enrollment_id)]


@router.get("/v1/monitoring/alerts/{alert_id}", tags=[TAG], response_model=AlertOut)
def get_alert(alert_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> AlertOut:
    return _alert_out(monitoring.read_alert(scope, alert_id))


@router.post("/v1/monitoring/alerts/{alert_id}/transitions", tags=[TAG], response_model=AlertOut)
def transition_alert(
    alert_id: uuid.UUID, body: AlertTransitionIn, actor: ActorDep, scope: ScopeDep
) -> AlertOut:
    return _alert_out(monitoring.transition_alert(scope, alert_id, body.action))


@router.post(
    "/v1/monitoring/alerts/{alert_id}/visit-requests",
    tags=[TAG],
    status_code=201,
    response_model=VisitRequestOut,
)
def request_visit(
    alert_id: uuid.UUID, body: VisitRequestIn, actor: ActorDep, scope: ScopeDep
) -> VisitRequestOut:
    found = monitoring.request_visit(scope, alert_id, body.modality)
    return VisitRequestOut(
        id=found.id,
        alert_id=found.alert_id,
        enrollment_id=found.enrollment_id,
        modality=found.modality,
        status=found.status,
        created_at=found.created_at,
        link=f"/monitoring/enrollments/{found.enrollment_id}",
    )


# --- messages ---------------------------------------------------------------------------------


@router.post(
    "/v1/monitoring/enrollments/{enrollment_id}/messages",
    tags=[TAG],
    status_code=201,
    response_model=MessageOut,
)
def send_message(
    enrollment_id: uuid.UUID, body: MessageIn, actor: ActorDep, scope: ScopeDep
) -> MessageOut:
    return _message_out(monitoring.send_message(scope, enrollment_id, body.body, body.alert_id))


@router.get(
    "/v1/monitoring/enrollments/{enrollment_id}/messages",
    tags=[TAG],
    response_model=list[MessageOut],
)
def list_messages(enrollment_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> list[MessageOut]:
    return [_message_out(m) for m in monitoring.list_messages(scope, enrollment_id)]


# --- management time --------------------------------------------------------------------------


@router.post(
    "/v1/monitoring/enrollments/{enrollment_id}/timer/start",
    tags=[TAG],
    status_code=201,
    response_model=TimeEntryOut,
)
def start_timer(
    enrollment_id: uuid.UUID, body: TimerStartIn, actor: ActorDep, scope: ScopeDep
) -> TimeEntryOut:
    return _time_out(monitoring.start_timer(scope, enrollment_id, body.activity))


@router.post(
    "/v1/monitoring/enrollments/{enrollment_id}/timer/stop", tags=[TAG], response_model=TimeEntryOut
)
def stop_timer(
    enrollment_id: uuid.UUID, body: TimerStopIn, actor: ActorDep, scope: ScopeDep
) -> TimeEntryOut:
    return _time_out(monitoring.stop_timer(scope, enrollment_id, body.interactive))


@router.post(
    "/v1/monitoring/enrollments/{enrollment_id}/time-entries",
    tags=[TAG],
    status_code=201,
    response_model=TimeEntryOut,
)
def log_time(
    enrollment_id: uuid.UUID, body: TimeEntryIn, actor: ActorDep, scope: ScopeDep
) -> TimeEntryOut:
    entry = monitoring.log_time(
        scope,
        enrollment_id,
        minutes=body.minutes,
        performed_on=body.performed_on,
        interactive=body.interactive,
        activity=body.activity,
    )
    return _time_out(entry)


# --- billing and panel ------------------------------------------------------------------------


@router.get(
    "/v1/monitoring/enrollments/{enrollment_id}/billing", tags=[TAG], response_model=BillingOut
)
def get_billing(
    enrollment_id: uuid.UUID, month: bounds.Month, actor: ActorDep, scope: ScopeDep
) -> BillingOut:
    year, number = bounds.parse_month(month)
    statements = billing.billing(scope, enrollment_id, year, number)
    return BillingOut(
        enrollment_id=enrollment_id,
        month=month,
        management=_statement_out(statements.management),
        device_periods=[_statement_out(s) for s in statements.devices],
    )


@router.get("/v1/monitoring/panel", tags=[TAG], response_model=list[PanelRowOut])
def get_panel(actor: ActorDep, scope: ScopeDep) -> list[PanelRowOut]:
    return [
        PanelRowOut(
            enrollment_id=row.enrollment.id,
            patient_id=row.enrollment.patient_id,
            patient_name=row.patient_name,
            program=model.Program(row.enrollment.program),
            open_alerts=row.open_alerts,
            period_start=row.period.start,
            period_end=row.period.end,
            data_days=row.data_days,
            management_minutes=row.management_minutes,
            billing_status=row.billing_status,
            billable_codes=list(row.billable_codes),
        )
        for row in billing.panel(scope)
    ]
