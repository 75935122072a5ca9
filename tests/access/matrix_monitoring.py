"""Access-matrix entries for the monitoring routes (merged into tests/access/test_matrix.py).

Object routes need patient A's monitoring objects: :func:`_objects` builds them once per world
through the monitoring services, in the world's database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.identity import service as identity
from telehealth.monitoring import ingest, model, repository
from telehealth.monitoring import service as monitoring
from telehealth.scope import open_scope
from tests.access.audience import MANAGERS, PATIENT_READERS, SIGNED_IN, STAFF, STAFF_READERS
from tests.access.audience import Audience as A
from tests.access.matrix import Entry, form, page, patient_a_id
from tests.support import World


@dataclass(frozen=True)
class Objects:
    enrollment: uuid.UUID
    ending: uuid.UUID  # its own enrollment, so ending it leaves the others active
    device: uuid.UUID
    spare_device: uuid.UUID
    alert: uuid.UUID
    second_alert: uuid.UUID
    third_alert: uuid.UUID  # for the portal's triage form


_BUILT: dict[uuid.UUID, Objects] = {}


def _objects(world: World) -> Objects:
    if world.org_id not in _BUILT:
        _BUILT[world.org_id] = _build(world)
    return _BUILT[world.org_id]


def _build(world: World) -> Objects:
    engine = make_engine(world.settings.effective_database_url)
    scope = open_scope(make_sessionmaker(engine), world.ports, request_id="matrix")
    try:
        scope.act_as(identity.resolve_token(scope, world["clinician_a"].token))
        patient_id = world["patient_a"].patient_id
        assert patient_id is not None
        today = world.clock.now().date()
        consent = world.clock.now() - timedelta(days=1)

        def enrolment(program: model.Program) -> Any:
            data = monitoring.EnrollmentInput(
                program, "medicare", today - timedelta(days=10), None, "patient", "verbal", consent
            )
            return monitoring.enroll(scope, patient_id, data)

        def device(enrollment_id: uuid.UUID) -> Any:
            data = monitoring.DeviceInput("blood_pressure_monitor", "Acme", "BP-1", "SN-1", True)
            return monitoring.add_device(scope, enrollment_id, data)[0]

        main = enrolment(model.Program.HYPERTENSION)
        ending = enrolment(model.Program.COPD)
        bp_device = device(main.id)
        spare = device(main.id)
        now = world.clock.now()
        alerts = []
        for offset, rule_value in ((2, 200.0), (1, 99.0)):
            at: datetime = now - timedelta(hours=offset)
            raws = [
                model.RawReading(0, "8480-6", rule_value, "mm[Hg]", at),
                model.RawReading(1, "8867-4", 150.0 if offset == 1 else 70.0, "/min", at),
            ]
            alerts.extend(ingest.ingest(scope, bp_device, main, raws).alerts)
        diastolic = [model.RawReading(0, "8462-4", 130.0, "mm[Hg]", now - timedelta(hours=3))]
        alerts.extend(ingest.ingest(scope, bp_device, main, diastolic).alerts)
        scope.uow.commit()
    finally:
        scope.uow.close()
        engine.dispose()
    assert len(alerts) == 3, alerts
    return Objects(main.id, ending.id, bp_device.id, spare.id, *alerts)


def alert_of_patient_a(world: World) -> uuid.UUID:
    """An alert no matrix row has acted on before the portal's triage form."""
    return _objects(world).third_alert


def _enrollment(suffix: str = "") -> Any:
    return lambda w: f"/v1/monitoring/enrollments/{_objects(w).enrollment}{suffix}"


def _patient(suffix: str) -> Any:
    return lambda w: f"/v1/monitoring/patients/{patient_a_id(w)}{suffix}"


def _timer_stop(world: World) -> str:
    return _with_timer_running(world, "/v1/monitoring/enrollments/{}/timer/stop")


def _with_timer_running(world: World, path: str) -> str:
    """``path`` of patient A's enrollment, with clinician A's timer on it running."""
    objects = _objects(world)
    engine = make_engine(world.settings.effective_database_url)
    scope = open_scope(make_sessionmaker(engine), world.ports, request_id="matrix")
    try:
        scope.act_as(identity.resolve_token(scope, world["clinician_a"].token))
        clinician = world["clinician_a"].user_id
        if repository.running_timer(scope.session, objects.enrollment, clinician) is None:
            monitoring.start_timer(scope, objects.enrollment, "data_review")
        scope.uow.commit()
    finally:
        scope.uow.close()
        engine.dispose()
    return path.format(objects.enrollment)


PROGRAM_THRESHOLDS = "/v1/monitoring/programs/hypertension/thresholds"
# Clinical work on an enrollment: its clinicians, and a clinician acting under break-glass
# (which starts nothing lasting: enrolling needs a standing relationship).
CLINICAL = A.CARE_TEAM | A.BREAK_GLASS
# Alert triage: the clinicians and the organization's coordinators.
TRIAGE = CLINICAL | A.ORG_COORDINATOR
CONSENT = {"given_by": "patient", "method": "verbal", "at": "2026-11-01T10:00:00Z"}

ENTRIES: dict[tuple[str, str], Entry] = {
    # Enrollment and devices.
    # Enrolling ties the clinician to the patient: not under break-glass (test_break_glass.py).
    ("POST", "/v1/monitoring/patients/{patient_id}/enrollments"): Entry(
        A.CARE_TEAM,
        target=_patient("/enrollments"),
        body={"program": "diabetes", "episode_start": "2026-11-01", "consent": CONSENT},
    ),
    ("GET", "/v1/monitoring/patients/{patient_id}/enrollments"): Entry(
        PATIENT_READERS,
        target=_patient("/enrollments"),
    ),
    ("GET", "/v1/monitoring/enrollments/{enrollment_id}"): Entry(
        PATIENT_READERS,
        target=_enrollment(),
    ),
    ("POST", "/v1/monitoring/enrollments/{enrollment_id}/end"): Entry(
        CLINICAL,
        target=lambda w: f"/v1/monitoring/enrollments/{_objects(w).ending}/end",
        once=True,
        body={"episode_end": str(date(2026, 11, 27))},
    ),
    ("GET", "/v1/monitoring/enrollments/{enrollment_id}/consent"): Entry(
        PATIENT_READERS,
        target=_enrollment("/consent"),
    ),
    ("POST", "/v1/monitoring/enrollments/{enrollment_id}/consent"): Entry(
        CLINICAL,
        target=_enrollment("/consent"),
        body=lambda w: {
            "given_by": "patient",
            "method": "written",
            "at": w.clock.now().isoformat(),
        },
    ),
    ("PUT", "/v1/monitoring/enrollments/{enrollment_id}/thresholds"): Entry(
        CLINICAL,
        target=_enrollment("/thresholds"),
        body={"systolic_above": 170},
    ),
    ("GET", "/v1/monitoring/programs/{program}/thresholds"): Entry(
        STAFF, target=lambda _w: PROGRAM_THRESHOLDS, seen_by=SIGNED_IN
    ),
    ("PUT", "/v1/monitoring/programs/{program}/thresholds"): Entry(
        MANAGERS,
        target=lambda _w: PROGRAM_THRESHOLDS,
        body={"systolic_above": 180},
        seen_by=SIGNED_IN,
    ),
    ("POST", "/v1/monitoring/enrollments/{enrollment_id}/devices"): Entry(
        CLINICAL,
        target=_enrollment("/devices"),
        body={
            "device_type": "weight_scale",
            "manufacturer": "Acme",
            "model": "W-1",
            "serial": "SN-W",
            "meets_fda_definition": True,
        },
    ),
    ("POST", "/v1/monitoring/devices/{device_id}/revoke"): Entry(
        CLINICAL,
        target=lambda w: f"/v1/monitoring/devices/{_objects(w).spare_device}/revoke",
        once=True,
    ),
    # Ingestion: a device token for one device, never a user credential.
    ("POST", "/v1/monitoring/ingest/readings"): Entry(A.DEVICE),
    ("POST", "/v1/monitoring/ingest/fhir"): Entry(A.DEVICE),
    # Readings and alerts.
    ("GET", "/v1/monitoring/enrollments/{enrollment_id}/readings"): Entry(
        PATIENT_READERS,
        target=_enrollment("/readings"),
    ),
    ("GET", "/v1/monitoring/enrollments/{enrollment_id}/alerts"): Entry(
        PATIENT_READERS,
        target=_enrollment("/alerts"),
    ),
    ("GET", "/v1/monitoring/alerts/{alert_id}"): Entry(
        PATIENT_READERS,
        target=lambda w: f"/v1/monitoring/alerts/{_objects(w).alert}",
    ),
    ("POST", "/v1/monitoring/alerts/{alert_id}/transitions"): Entry(
        TRIAGE,
        target=lambda w: f"/v1/monitoring/alerts/{_objects(w).alert}/transitions",
        once=True,
        body={"action": "acknowledge"},
    ),
    ("POST", "/v1/monitoring/alerts/{alert_id}/visit-requests"): Entry(
        CLINICAL,
        target=lambda w: f"/v1/monitoring/alerts/{_objects(w).second_alert}/visit-requests",
        once=True,
        body={"modality": "sync_audio_video"},
    ),
    ("POST", "/v1/monitoring/enrollments/{enrollment_id}/messages"): Entry(
        A.PATIENT_SELF | CLINICAL,
        target=_enrollment("/messages"),
        body={"body": "How are you today?"},
    ),
    ("GET", "/v1/monitoring/enrollments/{enrollment_id}/messages"): Entry(
        PATIENT_READERS,
        target=_enrollment("/messages"),
    ),
    # Management time.
    ("POST", "/v1/monitoring/enrollments/{enrollment_id}/timer/start"): Entry(
        CLINICAL,
        target=_enrollment("/timer/start"),
        body={"activity": "data_review"},
    ),
    ("POST", "/v1/monitoring/enrollments/{enrollment_id}/timer/stop"): Entry(
        CLINICAL,
        target=_timer_stop,
        body={"interactive": True},
    ),
    ("POST", "/v1/monitoring/enrollments/{enrollment_id}/time-entries"): Entry(
        CLINICAL,
        target=_enrollment("/time-entries"),
        body={"minutes": 12, "performed_on": "2026-11-26", "interactive": True},
    ),
    # Billing and the panel.
    ("GET", "/v1/monitoring/enrollments/{enrollment_id}/billing"): Entry(
        STAFF_READERS,
        target=_enrollment("/billing?month=2026-11"),
    ),
    ("GET", "/v1/monitoring/panel"): Entry(STAFF),
    # Pages.
    ("GET", "/monitoring"): page(SIGNED_IN),
    ("GET", "/monitoring/me"): page(A.PATIENTS),
    ("GET", "/monitoring/enrollments/{enrollment_id}"): page(
        PATIENT_READERS, lambda w: f"/monitoring/enrollments/{_objects(w).enrollment}"
    ),
    ("GET", "/monitoring/enrol"): page(A.CLINICIANS),
    # The patient is named in the form: hidden from those who may not read them.
    ("POST", "/monitoring/enrol"): form(
        A.CARE_TEAM,
        lambda _w: "/monitoring/enrol",
        lambda w: {
            "patient_id": patient_a_id(w),
            "program": "heart_failure",
            "episode_start": "2026-11-01",
            "consent_given_by": "patient",
            "consent_method": "verbal",
            "consent_confirmed": "on",
        },
    ),
    ("POST", "/monitoring/enrollments/{enrollment_id}/devices"): form(
        CLINICAL,
        lambda w: f"/monitoring/enrollments/{_objects(w).enrollment}/devices",
        {
            "device_type": "pulse_oximeter",
            "manufacturer": "Acme",
            "model_name": "O-1",
            "serial": "SN-O",
            "meets_fda_definition": "on",
        },
    ),
    ("POST", "/monitoring/enrollments/{enrollment_id}/thresholds"): form(
        CLINICAL,
        lambda w: f"/monitoring/enrollments/{_objects(w).enrollment}/thresholds",
        {"systolic_above": "175", "diastolic_above": "110", "no_data_days": "3"},
    ),
    # Clinician A stops their own running timer; the grant's clinician then has none to stop.
    ("POST", "/monitoring/enrollments/{enrollment_id}/timer"): form(
        CLINICAL,
        lambda w: _with_timer_running(w, "/monitoring/enrollments/{}/timer"),
        {"do": "stop", "interactive": "on"},
        once=True,
    ),
    ("POST", "/monitoring/enrollments/{enrollment_id}/time"): form(
        CLINICAL,
        lambda w: f"/monitoring/enrollments/{_objects(w).enrollment}/time",
        {"minutes": "12", "performed_on": "2026-11-26", "interactive": "on"},
    ),
    ("POST", "/monitoring/enrollments/{enrollment_id}/messages"): form(
        A.PATIENT_SELF | CLINICAL,
        lambda w: f"/monitoring/enrollments/{_objects(w).enrollment}/messages",
        {"body": "How are you today?"},
    ),
    ("POST", "/monitoring/alerts/{alert_id}/visit-request"): form(
        CLINICAL,
        lambda w: f"/monitoring/alerts/{_objects(w).alert}/visit-request",
        {"modality": "in_person"},
        once=True,
    ),
    ("GET", "/portal/alerts"): page(STAFF),
    ("POST", "/portal/alerts/{alert_id}"): form(
        TRIAGE,
        lambda w: f"/portal/alerts/{alert_of_patient_a(w)}",
        {"do": "acknowledge"},
        once=True,
    ),
}
