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
from tests.access.matrix import Entry, patient_a_id
from tests.support import World

READERS = ("patient_a", "clinician_a", "coordinator", "admin")
STAFF_READERS = ("clinician_a", "coordinator", "admin")


@dataclass(frozen=True)
class Objects:
    enrollment: uuid.UUID
    ending: uuid.UUID  # its own enrollment, so ending it leaves the others active
    device: uuid.UUID
    spare_device: uuid.UUID
    alert: uuid.UUID
    second_alert: uuid.UUID


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
        scope.uow.commit()
    finally:
        scope.uow.close()
        engine.dispose()
    return Objects(main.id, ending.id, bp_device.id, spare.id, alerts[0], alerts[1])


def _enrollment(suffix: str = "") -> Any:
    return lambda w: f"/v1/monitoring/enrollments/{_objects(w).enrollment}{suffix}"


def _patient(suffix: str) -> Any:
    return lambda w: f"/v1/monitoring/patients/{patient_a_id(w)}{suffix}"


def _timer_stop(world: World) -> str:
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
    return f"/v1/monitoring/enrollments/{objects.enrollment}/timer/stop"


CONSENT = {"given_by": "patient", "method": "verbal", "at": "2026-11-01T10:00:00Z"}

ENTRIES: dict[tuple[str, str], Entry] = {
    # Enrollment and devices.
    ("POST", "/v1/monitoring/patients/{patient_id}/enrollments"): Entry(
        "patient_object",
        target=_patient("/enrollments"),
        body={"program": "diabetes", "episode_start": "2026-11-01", "consent": CONSENT},
        allowed=("clinician_a",),
    ),
    ("GET", "/v1/monitoring/patients/{patient_id}/enrollments"): Entry(
        "patient_object",
        target=_patient("/enrollments"),
        allowed=READERS,
    ),
    ("GET", "/v1/monitoring/enrollments/{enrollment_id}"): Entry(
        "patient_object",
        target=_enrollment(),
        allowed=READERS,
    ),
    ("POST", "/v1/monitoring/enrollments/{enrollment_id}/end"): Entry(
        "patient_object",
        target=lambda w: f"/v1/monitoring/enrollments/{_objects(w).ending}/end",
        body={"episode_end": str(date(2026, 11, 27))},
        allowed=("clinician_a",),
    ),
    ("PUT", "/v1/monitoring/enrollments/{enrollment_id}/thresholds"): Entry(
        "patient_object",
        target=_enrollment("/thresholds"),
        body={"systolic_above": 170},
        allowed=("clinician_a",),
    ),
    ("GET", "/v1/monitoring/programs/{program}/thresholds"): Entry("staff"),
    ("PUT", "/v1/monitoring/programs/{program}/thresholds"): Entry("org_manager"),
    ("POST", "/v1/monitoring/enrollments/{enrollment_id}/devices"): Entry(
        "patient_object",
        target=_enrollment("/devices"),
        body={
            "device_type": "weight_scale",
            "manufacturer": "Acme",
            "model": "W-1",
            "serial": "SN-W",
            "meets_fda_definition": True,
        },
        allowed=("clinician_a",),
    ),
    ("POST", "/v1/monitoring/devices/{device_id}/revoke"): Entry(
        "patient_object",
        target=lambda w: f"/v1/monitoring/devices/{_objects(w).spare_device}/revoke",
        allowed=("clinician_a",),
    ),
    # Ingestion: a device token for one device, never a user credential.
    ("POST", "/v1/monitoring/ingest/readings"): Entry("device"),
    ("POST", "/v1/monitoring/ingest/fhir"): Entry("device"),
    # Readings and alerts.
    ("GET", "/v1/monitoring/enrollments/{enrollment_id}/readings"): Entry(
        "patient_object",
        target=_enrollment("/readings"),
        allowed=READERS,
    ),
    ("GET", "/v1/monitoring/enrollments/{enrollment_id}/alerts"): Entry(
        "patient_object",
        target=_enrollment("/alerts"),
        allowed=READERS,
    ),
    ("GET", "/v1/monitoring/alerts/{alert_id}"): Entry(
        "patient_object",
        target=lambda w: f"/v1/monitoring/alerts/{_objects(w).alert}",
        allowed=READERS,
    ),
    ("POST", "/v1/monitoring/alerts/{alert_id}/transitions"): Entry(
        "patient_object",
        target=lambda w: f"/v1/monitoring/alerts/{_objects(w).alert}/transitions",
        body={"action": "acknowledge"},
        allowed=("clinician_a",),
    ),
    ("POST", "/v1/monitoring/alerts/{alert_id}/visit-requests"): Entry(
        "patient_object",
        target=lambda w: f"/v1/monitoring/alerts/{_objects(w).second_alert}/visit-requests",
        body={"modality": "sync_audio_video"},
        allowed=("clinician_a",),
    ),
    ("POST", "/v1/monitoring/enrollments/{enrollment_id}/messages"): Entry(
        "patient_object",
        target=_enrollment("/messages"),
        body={"body": "How are you today?"},
        allowed=("patient_a", "clinician_a"),
    ),
    ("GET", "/v1/monitoring/enrollments/{enrollment_id}/messages"): Entry(
        "patient_object",
        target=_enrollment("/messages"),
        allowed=READERS,
    ),
    # Management time.
    ("POST", "/v1/monitoring/enrollments/{enrollment_id}/timer/start"): Entry(
        "patient_object",
        target=_enrollment("/timer/start"),
        body={"activity": "data_review"},
        allowed=("clinician_a",),
    ),
    ("POST", "/v1/monitoring/enrollments/{enrollment_id}/timer/stop"): Entry(
        "patient_object",
        target=_timer_stop,
        body={"interactive": True},
        allowed=("clinician_a",),
    ),
    ("POST", "/v1/monitoring/enrollments/{enrollment_id}/time-entries"): Entry(
        "patient_object",
        target=_enrollment("/time-entries"),
        body={"minutes": 12, "performed_on": "2026-11-26", "interactive": True},
        allowed=("clinician_a",),
    ),
    # Billing and the panel.
    ("GET", "/v1/monitoring/enrollments/{enrollment_id}/billing"): Entry(
        "patient_object",
        target=_enrollment("/billing?month=2026-11"),
        allowed=STAFF_READERS,
    ),
    ("GET", "/v1/monitoring/panel"): Entry("staff"),
    # Pages.
    ("GET", "/monitoring"): Entry("page"),
    ("GET", "/monitoring/me"): Entry("page"),
    ("GET", "/monitoring/enrollments/{enrollment_id}"): Entry("page"),
}
