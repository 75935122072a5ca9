"""Monitoring actions: enrollment, devices, thresholds, alerts, time, visit requests, messages.

Every patient-scoped object is reached through the loaders at the top of this module, which
apply :mod:`telehealth.access.policy`; a hidden object is reported exactly like a missing one.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session

from telehealth.access import loader
from telehealth.access import service as access
from telehealth.audit.model import Action
from telehealth.clock import ensure_utc
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.identity import credentials
from telehealth.identity import queries as identity_queries
from telehealth.identity.model import Actor, Role
from telehealth.monitoring import chart, consent, model, repository
from telehealth.monitoring.tables import (
    Alert,
    Device,
    Enrollment,
    Message,
    Reading,
    ThresholdSet,
    TimeEntry,
    VisitRequest,
)
from telehealth.notifications.service import notify
from telehealth.policy.clinicians import clinician_facts, practised_specialty
from telehealth.policy.consent import SIGNED_METHODS
from telehealth.policy.decision import Requirement
from telehealth.scope import Scope

if TYPE_CHECKING:
    from telehealth.identity.tables import Patient

DEVICE_TOKEN_PREFIX = "thd"  # noqa: S105 - a token prefix, not a secret


# --- access -----------------------------------------------------------------------------------


def _subject(enrollment: Enrollment) -> loader.Subject:
    # The clinician who enrolled the patient is assigned to the enrollment itself.
    return loader.Subject(
        enrollment.org_id, enrollment.patient_id, frozenset({enrollment.clinician_id})
    )


def _enrollment(session: Session, enrollment_id: uuid.UUID, _lock: bool) -> Enrollment | None:
    return repository.enrollment(session, enrollment_id)


_OfEnrollment = TypeVar("_OfEnrollment", Alert, Device, Reading)


def _with_enrollment(
    session: Session, found: _OfEnrollment | None
) -> tuple[_OfEnrollment, Enrollment] | None:
    """An object of an enrollment with its enrollment, for a loader deciding on the
    enrollment's subject."""
    enrollment = None if found is None else repository.enrollment(session, found.enrollment_id)
    return None if found is None or enrollment is None else (found, enrollment)


def _alert(session: Session, alert_id: uuid.UUID, _lock: bool) -> tuple[Alert, Enrollment] | None:
    return _with_enrollment(session, repository.alert(session, alert_id))


def _device(
    session: Session, device_id: uuid.UUID, _lock: bool
) -> tuple[Device, Enrollment] | None:
    return _with_enrollment(session, repository.device(session, device_id))


def _reading(
    session: Session, reading_id: uuid.UUID, _lock: bool
) -> tuple[list[Reading], Enrollment] | None:
    # As lists show it: a blood-pressure pair is its systolic reading, with its diastolic one.
    found = repository.readings_of(session, model.ReadingFilter(ids=[reading_id], panels=True))
    lead = _with_enrollment(session, found[0] if found else None)
    return None if lead is None else (found, lead[1])


def _of_enrollment(found: tuple[Alert | Device | list[Reading], Enrollment]) -> loader.Subject:
    return _subject(found[1])


ENROLLMENT = loader.register(
    loader.Kind("monitoring_enrollment", "enrollment", _enrollment, _subject)
)
ALERT = loader.register(loader.Kind("monitoring_alert", "alert", _alert, _of_enrollment))
DEVICE = loader.register(loader.Kind("monitoring_device", "device", _device, _of_enrollment))
READING = loader.register(loader.Kind("monitoring_reading", "reading", _reading, _of_enrollment))


def readable_enrollment(scope: Scope, enrollment_id: uuid.UUID) -> Enrollment:
    return loader.load(scope, ENROLLMENT, enrollment_id)


def _require_role(actor: Actor, roles: tuple[Role, ...], what: str) -> None:
    if actor.role not in roles:
        raise DomainError(ErrorCode.FORBIDDEN, f"{what} is done by the care team")


def clinical_enrollment(scope: Scope, enrollment_id: uuid.UUID) -> Enrollment:
    """For clinical work on a monitored patient: a clinician who may see the enrollment."""
    found = readable_enrollment(scope, enrollment_id)
    _require_role(scope.require_actor(), (Role.CLINICIAN,), "this")
    return found


def care_team_enrollment(scope: Scope, enrollment_id: uuid.UUID, what: str) -> Enrollment:
    """For the care team's own records of an enrollment (billing, management time): staff who
    may see it. Anyone else is refused once the enrollment is found (the loader hides it from
    whoever may not see it)."""
    found = readable_enrollment(scope, enrollment_id)
    if not scope.require_actor().is_staff:
        raise DomainError(ErrorCode.FORBIDDEN, f"{what} is for the care team")
    return found


def readable_alert(scope: Scope, alert_id: uuid.UUID) -> tuple[Alert, Enrollment]:
    return loader.load(scope, ALERT, alert_id)


def readable_device(scope: Scope, device_id: uuid.UUID) -> tuple[Device, Enrollment]:
    return loader.load(scope, DEVICE, device_id)


def readable_reading(scope: Scope, reading_id: uuid.UUID) -> tuple[list[Reading], Enrollment]:
    """A stored reading as lists show it (a blood-pressure pair as its systolic reading
    followed by its diastolic one; the diastolic one of a pair is no item, so not found)."""
    return loader.load(scope, READING, reading_id)


def readable_enrollments_of(scope: Scope, patient_id: uuid.UUID) -> list[Enrollment]:
    """The patient's enrollments the actor may read, each decided by the enrollment's own rule
    (its clinician keeps it when care ends). Reading them is not audited here: what a caller
    shows of them, it audits."""
    found = repository.enrollments_of(scope.session, patient_id)
    rule = ENROLLMENT.rule
    return [e for e in found if loader.verdict(scope, _subject(e), rule).allowed]


# --- enrollment -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrollmentInput:
    program: model.Program
    payer: str
    episode_start: date
    episode_end: date | None
    consent_given_by: str
    consent_method: str
    consent_at: datetime


def enroll(scope: Scope, patient_id: uuid.UUID, data: EnrollmentInput) -> Enrollment:
    patient = access.readable_patient(scope, patient_id)
    actor = scope.require_actor()
    _require_role(actor, (Role.CLINICIAN,), "enrollment")
    # The enrolling clinician keeps reaching the enrollment (see _subject).
    access.require_standing_relationship(scope, patient, "enrollment")
    now = scope.clock.now()
    if data.episode_end is not None and data.episode_end < data.episode_start:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "the episode ends before it starts", field="episode_end"
        )
    if ensure_utc(data.consent_at) > now:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "consent cannot be recorded in the future", field="consent_at"
        )
    if repository.active_enrollment(scope.session, patient.id, data.program.value) is not None:
        raise DomainError(
            ErrorCode.ALREADY_EXISTS, "the patient is already enrolled in this program"
        )
    enrollment = Enrollment(
        org_id=patient.org_id,
        patient_id=patient.id,
        clinician_id=actor.user_id,
        program=data.program.value,
        payer=data.payer,
        status="active",
        episode_start=data.episode_start,
        episode_end=data.episode_end,
        consent_given_by=data.consent_given_by,
        consent_method=data.consent_method,
        consent_at=ensure_utc(data.consent_at),
        consent_recorded_by=actor.user_id,
        threshold_overrides={},
        created_at=now,
    )
    # Consent the rules refuse (verbal where only a signed one counts, or past its renewal
    # period already) is refused before anything is written.
    consent.refuse_unmet(
        consent_standing(scope, enrollment), code=ErrorCode.INVALID_INPUT, field="consent_method"
    )
    scope.session.add(enrollment)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE,
        "monitoring_enrollment",
        enrollment.id,
        patient_id=patient.id,
        detail={"program": data.program.value},
    )
    return enrollment


@dataclass(frozen=True)
class PatientChoice:
    id: uuid.UUID
    name: str


def patients_to_enrol(scope: Scope, limit: int = 500) -> list[PatientChoice]:
    """The patients the actor may enrol (a clinician's patients in care now), for a picker;
    each listed patient is audited as read."""
    actor = scope.require_actor()
    _require_role(actor, (Role.CLINICIAN,), "enrollment")
    found = repository.patients_to_enrol(
        scope.session, actor.org_id, actor.user_id, scope.clock.now(), limit
    )
    access.record_listed(scope, "patient", [access.Listed(pid, pid) for pid, _, _ in found])
    return [PatientChoice(pid, f"{family}, {given}") for pid, given, family in found]


def end_episode(scope: Scope, enrollment_id: uuid.UUID, on: date) -> Enrollment:
    enrollment = clinical_enrollment(scope, enrollment_id)
    if enrollment.status != "active":
        raise DomainError(ErrorCode.INVALID_STATE, "the episode has already ended")
    if on < enrollment.episode_start:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "the episode ends before it starts", field="episode_end"
        )
    enrollment.status = "ended"
    enrollment.episode_end = on
    for device in repository.devices_of(scope.session, [enrollment.id]):
        if device.revoked_at is None:
            device.revoked_at = scope.clock.now()
    scope.audit.record(
        Action.UPDATE,
        "monitoring_enrollment",
        enrollment.id,
        patient_id=enrollment.patient_id,
        detail={"change": "episode_end"},
    )
    return enrollment


def list_enrollments(scope: Scope, patient_id: uuid.UUID) -> Sequence[Enrollment]:
    patient = access.readable_patient(scope, patient_id)
    found = repository.enrollments_of(scope.session, patient.id)
    scope.audit.record(
        Action.READ,
        "monitoring_enrollment",
        None,
        patient_id=patient.id,
        detail={"count": len(found)},
    )
    return found


def read_enrollment(scope: Scope, enrollment_id: uuid.UUID) -> Enrollment:
    enrollment = readable_enrollment(scope, enrollment_id)
    scope.audit.record(
        Action.READ, "monitoring_enrollment", enrollment.id, patient_id=enrollment.patient_id
    )
    return enrollment


def readable_enrollments(
    scope: Scope,
    *,
    patient_ids: Sequence[uuid.UUID] | None = None,
    consent_since: datetime | None = None,
    consent_before: datetime | None = None,
    limit: int | None = None,
) -> Sequence[Enrollment]:
    """The enrollments the actor may read (the enrollment loader's rule, in SQL), by when
    their consent was given; the caller audits what it shows."""
    return repository.enrollments_listed(
        scope.session,
        scope.require_actor(),
        scope.clock.now(),
        patient_ids=patient_ids,
        consent_since=consent_since,
        consent_before=consent_before,
        limit=limit,
    )


def active_enrollments_of_org(scope: Scope) -> Sequence[Enrollment]:
    """The coordinator's or administrator's organization's active enrollments, audited as a
    list (the enrolling clinician is the one named on each)."""
    actor = access.require_org_manager(scope)
    found = repository.active_enrollments_of_org(scope.session, actor.org_id)
    access.record_listed(
        scope,
        ENROLLMENT.name,
        [access.Listed(e.id, e.patient_id, frozenset({e.clinician_id})) for e in found],
    )
    return found


def enrollment_facts(scope: Scope, enrollment: Enrollment, on: date) -> dict[str, Any]:
    """The decision engine's facts for the monitoring an enrollment furnishes, as if on ``on``:
    an established patient of the enrolling clinician (enrolling needs a standing
    relationship), at home in their home state (where the monitoring statements bill from),
    under the enrollment's payer; the clinician's credentials and discipline as they stand.
    Read as part of the enrollment's audited read."""
    patient = patient_of(scope, enrollment)
    specialty = practised_specialty(scope.session, enrollment.clinician_id, None)
    return {
        "date_of_service": on.isoformat(),
        "patient": {
            "location_state": patient.home_state,
            "setting": "home",
            "payer": enrollment.payer,
            "established": True,
            "last_in_person_visit": None,
            "video_capable": True,
            "consents_to_video": True,
        },
        "clinician": clinician_facts(scope.session, enrollment.clinician_id, specialty),
        "encounter": {"specialty": specialty, "acuity": "routine", "purpose": "monitoring"},
    }


# --- consent ----------------------------------------------------------------------------------


def _consent_requirements(scope: Scope, enrollment: Enrollment) -> list[Requirement]:
    now = scope.clock.now()
    facts = enrollment_facts(scope, enrollment, now.date())
    return consent.consent_requirements(scope.ports.ruleset, facts, now)


def consent_standing(scope: Scope, enrollment: Enrollment) -> list[consent.ConsentNeed]:
    """The consent requirements of the enrollment's monitoring today, and how its consent on
    file stands against each (form, follow-up signature, renewal)."""
    requirements = _consent_requirements(scope, enrollment)
    return consent.consent_needs(requirements, enrollment, scope.clock.now())


def _require_consent(scope: Scope, enrollment: Enrollment) -> None:
    # Care-management time is the episode's billable encounter: not while consent falls short.
    consent.refuse_unmet(
        consent_standing(scope, enrollment), code=ErrorCode.PRECONDITION_FAILED, field="consent"
    )


@dataclass(frozen=True)
class ConsentInput:
    given_by: str
    method: str
    at: datetime


def record_consent(scope: Scope, enrollment_id: uuid.UUID, data: ConsentInput) -> Enrollment:
    """A renewed consent, or the signed statement verbal consent awaited, takes the place of
    the one on file; the audit event keeps the one it replaces."""
    enrollment = clinical_enrollment(scope, enrollment_id)
    if enrollment.status != "active":
        raise DomainError(ErrorCode.INVALID_STATE, "the episode has ended")
    at = ensure_utc(data.at)
    if at > scope.clock.now():
        raise DomainError(
            ErrorCode.INVALID_INPUT, "consent cannot be recorded in the future", field="consent_at"
        )
    if at < enrollment.consent_at:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "that is before the consent already on file",
            field="consent_at",
        )
    requirements = _consent_requirements(scope, enrollment)
    on_file = consent.consent_needs(requirements, enrollment, scope.clock.now())
    if data.method not in SIGNED_METHODS and consent.signature_wanted(on_file):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "the rules want this consent signed: record written or electronic consent",
            field="consent_method",
        )
    replaced = {
        "replaces_method": enrollment.consent_method,
        "replaces_at": enrollment.consent_at.isoformat(),
    }
    enrollment.consent_given_by = data.given_by
    enrollment.consent_method = data.method
    enrollment.consent_at = at
    enrollment.consent_recorded_by = scope.require_actor().user_id
    consent.refuse_unmet(
        consent.consent_needs(requirements, enrollment, scope.clock.now()),
        code=ErrorCode.INVALID_INPUT,
        field="consent_method",
    )
    scope.audit.record(
        Action.UPDATE,
        "monitoring_enrollment",
        enrollment.id,
        patient_id=enrollment.patient_id,
        detail={"consent": data.method, **replaced},
    )
    return enrollment


# --- thresholds -------------------------------------------------------------------------------


def program_thresholds(scope: Scope, org_id: uuid.UUID, program: model.Program) -> model.Thresholds:
    base = model.PROGRAM_DEFAULTS[program]
    stored = repository.threshold_limits(scope.session, org_id, program.value)
    return base.merged(stored) if stored is not None else base


def thresholds_for(scope: Scope, enrollment: Enrollment) -> model.Thresholds:
    program = program_thresholds(scope, enrollment.org_id, model.Program(enrollment.program))
    return program.merged(enrollment.threshold_overrides or {})


def set_program_thresholds(
    scope: Scope, program: model.Program, limits: Mapping[str, float | int | None]
) -> model.Thresholds:
    actor = access.require_org_manager(scope)
    stored = repository.threshold_set(scope.session, actor.org_id, program.value)
    now = scope.clock.now()
    if stored is None:
        stored = ThresholdSet(
            org_id=actor.org_id,
            program=program.value,
            limits={},
            updated_by=actor.user_id,
            updated_at=now,
        )
        scope.session.add(stored)
    stored.limits = dict(limits)
    stored.updated_by = actor.user_id
    stored.updated_at = now
    scope.session.flush()
    scope.audit.record(
        Action.UPDATE, "monitoring_threshold_set", stored.id, detail={"program": program.value}
    )
    return model.PROGRAM_DEFAULTS[program].merged(limits)


def read_program_thresholds(scope: Scope, program: model.Program) -> model.Thresholds:
    actor = scope.require_actor()
    if not actor.is_staff:
        raise DomainError(ErrorCode.FORBIDDEN, "program thresholds are for the care team")
    return program_thresholds(scope, actor.org_id, program)


def set_patient_thresholds(
    scope: Scope, enrollment_id: uuid.UUID, overrides: Mapping[str, float | int | None]
) -> model.Thresholds:
    enrollment = clinical_enrollment(scope, enrollment_id)
    enrollment.threshold_overrides = dict(overrides)
    scope.audit.record(
        Action.UPDATE,
        "monitoring_enrollment",
        enrollment.id,
        patient_id=enrollment.patient_id,
        detail={"change": "thresholds"},
    )
    return thresholds_for(scope, enrollment)


def edit_patient_thresholds(
    scope: Scope, enrollment_id: uuid.UUID, limits: Mapping[str, float | int | None]
) -> model.Thresholds:
    """Sets every limit of the patient's editor at once: a limit equal to the program's is not
    kept as an override, so it follows later changes to the program's thresholds."""
    enrollment = clinical_enrollment(scope, enrollment_id)
    program = program_thresholds(scope, enrollment.org_id, model.Program(enrollment.program))
    current = program.as_dict()
    changed = {k: v for k, v in limits.items() if k in current and v != current[k]}
    return set_patient_thresholds(scope, enrollment.id, changed)


# --- devices ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceInput:
    device_type: str
    manufacturer: str
    model: str
    serial: str
    meets_fda_definition: bool


def add_device(scope: Scope, enrollment_id: uuid.UUID, data: DeviceInput) -> tuple[Device, str]:
    """Assigns a device and issues its token (256 bits, shown once, stored as a digest)."""
    enrollment = clinical_enrollment(scope, enrollment_id)
    if enrollment.status != "active":
        raise DomainError(ErrorCode.INVALID_STATE, "the episode has ended")
    token, digest = credentials.new_secret(DEVICE_TOKEN_PREFIX)
    device = Device(
        enrollment_id=enrollment.id,
        org_id=enrollment.org_id,
        patient_id=enrollment.patient_id,
        device_type=data.device_type,
        manufacturer=data.manufacturer,
        model=data.model,
        serial=data.serial,
        meets_fda_definition=data.meets_fda_definition,
        token_hash=digest,
        created_at=scope.clock.now(),
    )
    scope.session.add(device)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE, "monitoring_device", device.id, patient_id=enrollment.patient_id
    )
    scope.audit.record(
        Action.TOKEN_ISSUE,
        "monitoring_device",
        device.id,
        patient_id=enrollment.patient_id,
        detail={"kind": "device"},
    )
    return device, token


def revoke_device(scope: Scope, device_id: uuid.UUID) -> Device:
    device, enrollment = readable_device(scope, device_id)
    _require_role(scope.require_actor(), (Role.CLINICIAN,), "device management")
    if device.revoked_at is not None:
        raise DomainError(ErrorCode.INVALID_STATE, "the device is already revoked")
    device.revoked_at = scope.clock.now()
    scope.audit.record(
        Action.TOKEN_REVOKE,
        "monitoring_device",
        device.id,
        patient_id=enrollment.patient_id,
        detail={"kind": "device"},
    )
    return device


def devices(scope: Scope, enrollment: Enrollment) -> Sequence[Device]:
    return repository.devices_of(scope.session, [enrollment.id])


def patient_devices(
    scope: Scope, patient_id: uuid.UUID
) -> tuple[list[Enrollment], Sequence[Device]]:
    """The patient's enrollments the actor may read and their devices. Not audited here: the
    caller audits each device it shows."""
    enrollments = readable_enrollments_of(scope, patient_id)
    if not enrollments:
        return [], []
    return enrollments, repository.devices_of(scope.session, [e.id for e in enrollments])


def authenticate_device(scope: Scope, token: str) -> tuple[Device, Enrollment]:
    """Resolves a device token. It reaches only its own device's ingestion, nothing else."""
    if not token.startswith(DEVICE_TOKEN_PREFIX + "_"):
        raise DomainError(ErrorCode.TOKEN_INVALID, "the token is invalid or expired")
    device = repository.device_by_digest(scope.session, credentials.digest(token))
    if device is None or device.revoked_at is not None:
        raise DomainError(ErrorCode.TOKEN_INVALID, "the token is invalid or expired")
    enrollment = repository.enrollment(scope.session, device.enrollment_id)
    if enrollment is None or enrollment.status != "active":
        raise DomainError(ErrorCode.TOKEN_INVALID, "the token is invalid or expired")
    scope.audit.identify(device.id, "device", device.org_id)
    return device, enrollment


# --- readings ---------------------------------------------------------------------------------


def list_readings(
    scope: Scope, enrollment_id: uuid.UUID, start: datetime, end: datetime, limit: int
) -> Sequence[Reading]:
    enrollment = readable_enrollment(scope, enrollment_id)
    where = model.ReadingFilter([enrollment.id], start=start, end=end, limit=limit)
    found = repository.readings_of(scope.session, where)
    _record_readings_read(scope, enrollment, len(found))
    return found


def patient_readings(
    scope: Scope, patient_id: uuid.UUID, where: model.ReadingFilter
) -> tuple[list[Enrollment], list[Reading]]:
    """The patient's enrollments the actor may read (:func:`readable_enrollments_of`) and the
    readings of theirs the list ``where`` describes, in one query. Not audited here: the caller
    audits each reading it shows (the FHIR search does, as a list's)."""
    enrollments = readable_enrollments_of(scope, patient_id)
    if not enrollments:
        return [], []
    where = replace(where, enrollment_ids=[e.id for e in enrollments])
    return enrollments, repository.readings_of(scope.session, where)


def device_readings_at(scope: Scope, device: Device, at: datetime) -> list[Reading]:
    """What a device stored at one moment, as lists show it: for the device itself, what its
    submission became (new or stored before)."""
    where = model.ReadingFilter(
        [device.enrollment_id],
        device_id=device.id,
        start=at,
        end=at + timedelta(microseconds=1),
        panels=True,
        limit=len(model.LOINC),
    )
    return repository.readings_of(scope.session, where)


def shown_readings(
    scope: Scope, enrollment_id: uuid.UUID, start: datetime, end: datetime, limit: int
) -> list[model.ShownReading]:
    """The readings :func:`list_readings` gives, as pages show them."""
    enrollment = readable_enrollment(scope, enrollment_id)
    found = repository.shown_readings(scope.session, enrollment.id, start, end, limit)
    _record_readings_read(scope, enrollment, len(found))
    return found


def _record_readings_read(scope: Scope, enrollment: Enrollment, count: int) -> None:
    scope.audit.record(
        Action.READ,
        "monitoring_reading",
        None,
        patient_id=enrollment.patient_id,
        detail={"count": count},
    )


@dataclass
class EnrollmentCharts:
    """An enrollment's readings over a window, drawn against its thresholds and alerts."""

    enrollment: Enrollment
    readings: list[model.ShownReading]
    alerts: list[model.ShownAlert]
    limits: model.Thresholds
    charts: list[chart.Chart]


def enrollment_charts(scope: Scope, enrollment: Enrollment, days: int) -> EnrollmentCharts:
    end = scope.clock.now()
    start = end - timedelta(days=days)
    readings = shown_readings(scope, enrollment.id, start, end, 5000)
    alerts = shown_alerts(scope, enrollment.id)
    limits = thresholds_for(scope, enrollment)
    return EnrollmentCharts(
        enrollment, readings, alerts, limits, _charts(limits, readings, alerts, start, end)
    )


def _charts(
    limits: model.Thresholds,
    readings: list[model.ShownReading],
    alerts: Sequence[model.ShownAlert],
    start: datetime,
    end: datetime,
) -> list[chart.Chart]:
    by_metric: dict[str, list[chart.Point]] = defaultdict(list)
    for reading in readings:
        by_metric[reading.metric].append(chart.Point(reading.effective_at, reading.value))
    data: dict[model.Metric, Sequence[chart.Point]] = {
        model.Metric(metric): points for metric, points in by_metric.items()
    }
    marks = [chart.AlertMark(a.observed_at, a.rule, a.status) for a in alerts]
    built = [chart.build(panel, data, limits, marks, start, end) for panel in chart.PANELS]
    return [c for c in built if not c.empty]


# --- alerts -----------------------------------------------------------------------------------


def raise_alert(
    scope: Scope,
    enrollment: Enrollment,
    *,
    kind: model.AlertKind,
    rule: str,
    metric: model.Metric | None,
    limit: float | None,
    observed_at: datetime,
    value: float | None,
    device_id: uuid.UUID | None,
) -> Alert:
    found = Alert(
        org_id=enrollment.org_id,
        patient_id=enrollment.patient_id,
        enrollment_id=enrollment.id,
        device_id=device_id,
        kind=kind.value,
        rule=rule,
        metric=metric.value if metric is not None else None,
        limit_value=limit,
        observed_value=value,
        observed_at=observed_at,
        status=model.AlertStatus.OPEN.value,
        created_at=scope.clock.now(),
    )
    scope.session.add(found)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE,
        "monitoring_alert",
        found.id,
        patient_id=enrollment.patient_id,
        detail={"rule": rule},
    )
    # The title stays generic: notifications may be emailed, and email is not for PHI.
    notify(
        scope,
        enrollment.clinician_id,
        kind="monitoring_alert",
        title="A monitoring alert needs review",
        link=f"/monitoring/enrollments/{enrollment.id}",
    )
    return found


def read_alert(scope: Scope, alert_id: uuid.UUID) -> Alert:
    found, enrollment = readable_alert(scope, alert_id)
    scope.audit.record(Action.READ, "monitoring_alert", found.id, patient_id=enrollment.patient_id)
    return found


def list_alerts(scope: Scope, enrollment_id: uuid.UUID, limit: int = 200) -> Sequence[Alert]:
    enrollment = readable_enrollment(scope, enrollment_id)
    found = repository.alerts_of(scope.session, enrollment.id, limit)
    _record_alerts_read(scope, enrollment, len(found))
    return found


def shown_alerts(
    scope: Scope, enrollment_id: uuid.UUID, limit: int = 200
) -> list[model.ShownAlert]:
    """The alerts :func:`list_alerts` gives, as pages show them; read and audited the same."""
    enrollment = readable_enrollment(scope, enrollment_id)
    found = repository.shown_alerts(scope.session, enrollment.id, limit)
    _record_alerts_read(scope, enrollment, len(found))
    return found


def _record_alerts_read(scope: Scope, enrollment: Enrollment, count: int) -> None:
    scope.audit.record(
        Action.READ,
        "monitoring_alert",
        None,
        patient_id=enrollment.patient_id,
        detail={"count": count},
    )


def transition_alert(scope: Scope, alert_id: uuid.UUID, action: model.AlertAction) -> Alert:
    found, enrollment = readable_alert(scope, alert_id)
    actor = scope.require_actor()
    _require_role(actor, (Role.CLINICIAN, Role.COORDINATOR), "alert handling")
    try:
        target = model.next_status(model.AlertStatus(found.status), action)
    except model.InvalidTransition as exc:
        raise DomainError(ErrorCode.INVALID_STATE, str(exc)) from exc
    now = scope.clock.now()
    found.status = target.value
    if target is model.AlertStatus.ACKNOWLEDGED:
        found.acknowledged_at, found.acknowledged_by = now, actor.user_id
    elif target is model.AlertStatus.ESCALATED:
        found.escalated_at, found.escalated_by = now, actor.user_id
    else:
        found.resolved_at, found.resolved_by = now, actor.user_id
    scope.audit.record(
        Action.UPDATE,
        "monitoring_alert",
        found.id,
        patient_id=enrollment.patient_id,
        detail={"status": target.value},
    )
    return found


# Alerts nobody has handled yet: the care team's work list.
OPEN_ALERT_STATES = (model.AlertStatus.OPEN.value, model.AlertStatus.ESCALATED.value)
# Alerts not resolved yet: an acknowledged alert stays on the alert page until it is.
UNRESOLVED_ALERT_STATES = (*OPEN_ALERT_STATES, model.AlertStatus.ACKNOWLEDGED.value)


@dataclass
class AlertRow:
    alert: Alert
    patient_name: str

    @property
    def rule_words(self) -> str:
        return model.rule_words(self.alert.rule)

    @property
    def measured(self) -> str:
        return model.measured_words(self.alert.metric, self.alert.observed_value)

    @property
    def limit(self) -> str:
        return model.limit_words(self.alert.rule, self.alert.metric, self.alert.limit_value)


def open_alerts(
    scope: Scope, limit: int = 200, states: Sequence[str] = OPEN_ALERT_STATES
) -> list[AlertRow]:
    """Alerts in ``states`` (by default the unhandled ones) of the actor's monitoring panel (a
    clinician's patients, or the organization's for coordinators and administrators), oldest
    first."""
    actor = scope.require_actor()
    if not actor.is_staff:
        raise DomainError(ErrorCode.FORBIDDEN, "alerts are handled by the care team")
    clinician = actor.user_id if actor.role is Role.CLINICIAN else None
    rows = []
    for alert, given_name, family_name in repository.open_alerts(
        scope.session, actor.org_id, states, clinician, limit, now=scope.clock.now()
    ):
        scope.audit.record(
            Action.READ,
            "monitoring_alert",
            alert.id,
            patient_id=alert.patient_id,
            detail={"via": "portal"},
        )
        rows.append(AlertRow(alert, f"{family_name}, {given_name}"))
    return rows


def act_on_alert(scope: Scope, alert_id: uuid.UUID, action: str) -> Alert:
    """An alert handled from a form: the action's name as the form sent it."""
    try:
        chosen = model.AlertAction(action)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "unknown alert action", field="do") from exc
    return transition_alert(scope, alert_id, chosen)


def requested_alerts(scope: Scope, enrollment: Enrollment) -> set[uuid.UUID]:
    """The enrollment's alerts with a visit requested and not yet booked (read with its
    alerts, already audited)."""
    return repository.requested_alerts(scope.session, enrollment.id)


def request_visit(scope: Scope, alert_id: uuid.UUID, modality: str) -> VisitRequest:
    """Asks scheduling for a live visit about this alert; coordinators and the patient hear."""
    found, enrollment = readable_alert(scope, alert_id)
    actor = scope.require_actor()
    _require_role(actor, (Role.CLINICIAN,), "requesting a visit")
    if repository.open_visit_request(scope.session, found.id) is not None:
        raise DomainError(ErrorCode.ALREADY_EXISTS, "a visit is already requested for this alert")
    request = VisitRequest(
        alert_id=found.id,
        enrollment_id=enrollment.id,
        patient_id=enrollment.patient_id,
        requested_by=actor.user_id,
        modality=modality,
        status="requested",
        created_at=scope.clock.now(),
    )
    scope.session.add(request)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE,
        "monitoring_visit_request",
        request.id,
        patient_id=enrollment.patient_id,
        detail={"modality": modality},
    )
    link = f"/monitoring/enrollments/{enrollment.id}"
    for coordinator in identity_queries.coordinators_of(scope.session, enrollment.org_id):
        notify(
            scope, coordinator, kind="visit_request", title="A visit needs scheduling", link=link
        )
    _notify_patient(scope, enrollment, "Your care team would like a visit with you")
    return request


# --- messages ---------------------------------------------------------------------------------


def _notify_patient(scope: Scope, enrollment: Enrollment, title: str) -> None:
    patient = identity_queries.patient_by_id(scope.session, enrollment.patient_id)
    if patient is not None and patient.user_id is not None:
        notify(
            scope, patient.user_id, kind="monitoring_message", title=title, link="/monitoring/me"
        )


def send_message(
    scope: Scope, enrollment_id: uuid.UUID, body: str, alert_id: uuid.UUID | None
) -> Message:
    enrollment = readable_enrollment(scope, enrollment_id)
    actor = scope.require_actor()
    _require_role(actor, (Role.CLINICIAN, Role.PATIENT), "messaging")
    if alert_id is not None:
        found = repository.alert(scope.session, alert_id)
        if found is None or found.enrollment_id != enrollment.id:
            raise not_found("alert")
    message = Message(
        enrollment_id=enrollment.id,
        patient_id=enrollment.patient_id,
        alert_id=alert_id,
        sender_id=actor.user_id,
        body=body,
        created_at=scope.clock.now(),
    )
    scope.session.add(message)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE, "monitoring_message", message.id, patient_id=enrollment.patient_id
    )
    if actor.role is Role.PATIENT:
        notify(
            scope,
            enrollment.clinician_id,
            kind="monitoring_message",
            title="New message from a monitored patient",
            link=f"/monitoring/enrollments/{enrollment.id}",
        )
    else:
        _notify_patient(scope, enrollment, "New message from your care team")
    return message


def list_messages(scope: Scope, enrollment_id: uuid.UUID) -> Sequence[Message]:
    enrollment = readable_enrollment(scope, enrollment_id)
    found = repository.messages_of(scope.session, enrollment.id, 500)
    scope.audit.record(
        Action.READ,
        "monitoring_message",
        None,
        patient_id=enrollment.patient_id,
        detail={"count": len(found)},
    )
    return found


# --- management time --------------------------------------------------------------------------

MAX_ENTRY_MINUTES = 240


def start_timer(scope: Scope, enrollment_id: uuid.UUID, activity: str) -> TimeEntry:
    enrollment = clinical_enrollment(scope, enrollment_id)
    actor = scope.require_actor()
    _require_consent(scope, enrollment)
    if repository.running_timer(scope.session, enrollment.id, actor.user_id) is not None:
        raise DomainError(ErrorCode.CONFLICT, "a timer is already running for this patient")
    now = scope.clock.now()
    entry = TimeEntry(
        enrollment_id=enrollment.id,
        patient_id=enrollment.patient_id,
        clinician_id=actor.user_id,
        source="timer",
        activity=activity,
        performed_on=now.date(),
        started_at=now,
        created_at=now,
    )
    return _record_time_entry(scope, entry)


def _record_time_entry(scope: Scope, entry: TimeEntry) -> TimeEntry:
    scope.session.add(entry)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE,
        "monitoring_time_entry",
        entry.id,
        patient_id=entry.patient_id,
        detail={"source": entry.source},
    )
    return entry


def stop_timer(scope: Scope, enrollment_id: uuid.UUID, interactive: bool) -> TimeEntry:
    enrollment = clinical_enrollment(scope, enrollment_id)
    actor = scope.require_actor()
    entry = repository.running_timer(scope.session, enrollment.id, actor.user_id)
    if entry is None or entry.started_at is None:
        raise DomainError(ErrorCode.INVALID_STATE, "no timer is running for this patient")
    now = scope.clock.now()
    elapsed = now - ensure_utc(entry.started_at)
    entry.ended_at = now
    # Whole minutes only: a partial minute is not billable time.
    entry.minutes = min(int(elapsed / timedelta(minutes=1)), MAX_ENTRY_MINUTES)
    entry.interactive = interactive
    scope.audit.record(
        Action.UPDATE,
        "monitoring_time_entry",
        entry.id,
        patient_id=enrollment.patient_id,
        detail={"minutes": entry.minutes},
    )
    return entry


def running_timer(scope: Scope, enrollment: Enrollment) -> TimeEntry | None:
    """The actor's own timer on this enrollment, if one is running: kept on the server, so a
    reload or another device loses no time."""
    actor = scope.require_actor()
    return repository.running_timer(scope.session, enrollment.id, actor.user_id)


def time_entries_in(
    scope: Scope, enrollment: Enrollment, period: model.Period
) -> Sequence[TimeEntry]:
    """Management time logged for the enrollment on the period's days, by every clinician."""
    found = repository.time_entries(scope.session, enrollment.id, period.start, period.end)
    scope.audit.record(
        Action.READ,
        "monitoring_time_entry",
        None,
        patient_id=enrollment.patient_id,
        detail={"count": len(found)},
    )
    return found


def log_time(
    scope: Scope,
    enrollment_id: uuid.UUID,
    *,
    minutes: int,
    performed_on: date,
    interactive: bool,
    activity: str,
) -> TimeEntry:
    enrollment = clinical_enrollment(scope, enrollment_id)
    actor = scope.require_actor()
    _require_consent(scope, enrollment)
    now = scope.clock.now()
    if performed_on > now.date():
        raise DomainError(
            ErrorCode.INVALID_INPUT, "time cannot be logged for a future day", field="performed_on"
        )
    if performed_on < enrollment.episode_start:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "that day is before the episode of care", field="performed_on"
        )
    entry = TimeEntry(
        enrollment_id=enrollment.id,
        patient_id=enrollment.patient_id,
        clinician_id=actor.user_id,
        source="manual",
        activity=activity,
        performed_on=performed_on,
        minutes=minutes,
        interactive=interactive,
        created_at=now,
    )
    return _record_time_entry(scope, entry)


def patient_of(scope: Scope, enrollment: Enrollment) -> Patient:
    patient = access.patient_record(scope, enrollment.patient_id)
    if patient is None:
        raise not_found("patient")
    return patient


def thresholds_dict(limits: model.Thresholds) -> dict[str, Any]:
    return limits.as_dict()
