"""Monitoring enforces how consent must be taken where the state's rule says so: enrolment
refuses a consent the terms do not accept; care-management time waits for a lapsed or
unsigned consent to be renewed; readings are never refused for it (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from telehealth.errors import DomainError, ErrorCode
from telehealth.identity.tables import Patient
from telehealth.monitoring import service as monitoring
from tests.monitoring.helpers import add_device, bp, post
from tests.support import World
from tests.visits.support import acting, license_clinician_a, services_of

pytestmark = pytest.mark.db


def _patient_in(app: FastAPI, world: World, state: str) -> None:
    """Patient A lives in ``state`` and clinician A is licensed there (seed data)."""
    services = services_of(app)
    license_clinician_a(services, world, state)
    with acting(services, world["admin"].user_id) as scope:
        patient = scope.session.get(Patient, world["patient_a"].patient_id)
        assert patient is not None
        patient.home_state = state


def _enrol(client: TestClient, world: World, payer: str, method: str, at: str) -> Any:
    return client.post(
        f"/v1/monitoring/patients/{world['patient_a'].patient_id}/enrollments",
        json={
            "program": "hypertension",
            "payer": payer,
            "episode_start": "2026-11-01",
            "consent": {"given_by": "patient", "method": method, "at": at},
        },
        headers=world["clinician_a"].headers,
    )


def _log(client: TestClient, world: World, enrollment_id: str, on: date) -> Any:
    return client.post(
        f"/v1/monitoring/enrollments/{enrollment_id}/time-entries",
        json={
            "minutes": 20,
            "performed_on": on.isoformat(),
            "interactive": True,
            "activity": "data_review",
        },
        headers=world["clinician_a"].headers,
    )


def _consent(client: TestClient, world: World, enrollment_id: str, method: str, at: str) -> Any:
    return client.post(
        f"/v1/monitoring/enrollments/{enrollment_id}/consent",
        json={"given_by": "patient", "method": method, "at": at},
        headers=world["clinician_a"].headers,
    )


def _standing(client: TestClient, world: World, enrollment_id: str) -> list[dict[str, Any]]:
    found = client.get(
        f"/v1/monitoring/enrollments/{enrollment_id}/consent", headers=world["clinician_a"].headers
    )
    assert found.status_code == 200, found.text
    result: list[dict[str, Any]] = found.json()
    return result


def test_georgia_medicaid_refuses_enrolment_on_verbal_consent_and_writes_nothing(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    _patient_in(app, world, "GA")
    now = clock.now().isoformat()
    refused = _enrol(client, world, "medicaid", "verbal", now)
    assert refused.status_code == 422
    problem = refused.json()
    assert "only a signed consent counts" in problem["detail"]
    assert problem["field"] == "consent_method"
    listed = client.get(
        f"/v1/monitoring/patients/{world['patient_a'].patient_id}/enrollments",
        headers=world["clinician_a"].headers,
    )
    assert listed.json() == []
    assert _enrol(client, world, "medicaid", "electronic", now).status_code == 201


def _log_as_clinician(app: FastAPI, world: World, enrollment_id: str) -> None:
    """Care-management time logged through the service (the year ahead outlives the test's
    bearer tokens)."""
    with acting(services_of(app), world["clinician_a"].user_id) as scope:
        monitoring.log_time(
            scope,
            uuid.UUID(enrollment_id),
            minutes=20,
            performed_on=scope.clock.now().date(),
            interactive=True,
            activity="data_review",
        )


def _renew(app: FastAPI, world: World, enrollment_id: str, method: str) -> None:
    with acting(services_of(app), world["clinician_a"].user_id) as scope:
        data = monitoring.ConsentInput(given_by="patient", method=method, at=scope.clock.now())
        monitoring.record_consent(scope, uuid.UUID(enrollment_id), data)


def _shortfalls(app: FastAPI, world: World, enrollment_id: str) -> set[str | None]:
    with acting(services_of(app), world["clinician_a"].user_id) as scope:
        enrollment = monitoring.read_enrollment(scope, uuid.UUID(enrollment_id))
        return {n.shortfall for n in monitoring.consent_standing(scope, enrollment)}


def test_oregon_medicaid_time_waits_for_a_renewed_consent_after_a_year(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    _patient_in(app, world, "OR")
    enrolled = _enrol(client, world, "medicaid", "verbal", clock.now().isoformat())
    assert enrolled.status_code == 201, enrolled.text
    enrollment_id = enrolled.json()["id"]
    assert {n["renewal"] for n in _standing(client, world, enrollment_id)} >= {"annual"}
    assert _log(client, world, enrollment_id, clock.now().date()).status_code == 201
    # A consent dated before the one on file is refused.
    early = _consent(client, world, enrollment_id, "written", "2026-01-01T00:00:00Z")
    assert early.status_code == 422

    clock.advance(timedelta(days=366))
    with pytest.raises(DomainError) as lapsed:
        _log_as_clinician(app, world, enrollment_id)
    assert lapsed.value.code is ErrorCode.PRECONDITION_FAILED
    assert "older than its renewal period" in lapsed.value.message
    assert "lapsed" in _shortfalls(app, world, enrollment_id)

    _renew(app, world, enrollment_id, "verbal")  # Oregon takes oral consent
    _log_as_clinician(app, world, enrollment_id)
    assert _shortfalls(app, world, enrollment_id) == {None}


def test_nebraska_verbal_enrolment_awaits_its_signed_statement(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    _patient_in(app, world, "NE")
    enrolled = _enrol(client, world, "medicare", "verbal", clock.now().isoformat())
    assert enrolled.status_code == 201, enrolled.text
    enrollment_id = enrolled.json()["id"]
    due = [n for n in _standing(client, world, enrollment_id) if n["signature_due"]]
    assert due
    assert due[0]["shortfall"] is None

    clock.advance(timedelta(days=11))
    with pytest.raises(DomainError) as overdue:
        _log_as_clinician(app, world, enrollment_id)
    assert "signed statement" in overdue.value.message
    # A further verbal consent cannot stand in for the signature; a signed one can.
    with pytest.raises(DomainError) as again:
        _renew(app, world, enrollment_id, "verbal")
    assert again.value.data.get("field") == "consent_method"
    _renew(app, world, enrollment_id, "written")
    _log_as_clinician(app, world, enrollment_id)


def test_readings_keep_arriving_whatever_the_consent(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    _patient_in(app, world, "OR")
    enrolled = _enrol(client, world, "medicaid", "verbal", clock.now().isoformat())
    enrollment_id = enrolled.json()["id"]
    _device_id, device = add_device(client, world, enrollment_id)
    clock.advance(timedelta(days=366))
    assert "lapsed" in _shortfalls(app, world, enrollment_id)
    sent = post(client, device, bp(128, 82, clock.now() - timedelta(minutes=5)))
    assert sent.status_code == 200, sent.text


def test_the_enrollment_page_says_why_consent_falls_short_and_records_it_again(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    _patient_in(app, world, "NE")
    enrolled = _enrol(client, world, "medicare", "verbal", clock.now().isoformat())
    enrollment_id = enrolled.json()["id"]
    page = client.get(
        f"/monitoring/enrollments/{enrollment_id}/consent", headers=world["clinician_a"].headers
    )
    assert page.status_code == 200
    assert "A signed statement is due by" in page.text
    # Only signed methods are offered while the signature is awaited.
    form = page.text[page.text.index('id="consent-method"') :][:400]
    assert 'value="verbal"' not in form
    assert 'value="written"' in form
    refused = client.post(
        f"/monitoring/enrollments/{enrollment_id}/consent",
        data={"consent_given_by": "patient", "consent_method": "verbal"},
        headers=world["clinician_a"].headers,
    )
    assert refused.status_code == 422
    assert "signed" in refused.text
    recorded = client.post(
        f"/monitoring/enrollments/{enrollment_id}/consent",
        data={"consent_given_by": "patient", "consent_method": "written"},
        headers=world["clinician_a"].headers,
        follow_redirects=False,
    )
    assert recorded.status_code == 303
    after = client.get(
        f"/monitoring/enrollments/{enrollment_id}/consent", headers=world["clinician_a"].headers
    )
    assert "A signed statement is due by" not in after.text
    assert "(written)" in after.text
