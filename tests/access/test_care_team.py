"""Care-team membership is data: where it came from, who extended the team, when it ends; and
every object kind is loaded, and audited, one way (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.exc import NoResultFound

from telehealth.access import loader
from telehealth.clock import FrozenClock
from telehealth.errors import DomainError, ErrorCode
from telehealth.identity.model import CareSource
from telehealth.identity.tables import CareAssignment
from tests.access import matrix_visits
from tests.access.test_break_glass import _bookable_clinician_x, _booking
from tests.support import World
from tests.visits.support import acting, book, services_of

pytestmark = pytest.mark.db

REASON = "Unconscious patient in the emergency room"


def _membership(app: FastAPI, clinician: uuid.UUID, patient: uuid.UUID) -> CareAssignment:
    with services_of(app).sessions() as session:
        found = session.execute(
            select(CareAssignment).where(
                CareAssignment.clinician_id == clinician, CareAssignment.patient_id == patient
            )
        ).scalar_one()
        session.expunge(found)
        return found


def _end_membership(app: FastAPI, world: World, at: object) -> None:
    with services_of(app).sessions() as session, session.begin():
        session.execute(
            update(CareAssignment)
            .where(CareAssignment.clinician_id == world["clinician_a"].user_id)
            .values(ends_at=at)
        )


def _audit(client: TestClient, world: World, action: str) -> list[dict[str, object]]:
    found = client.get("/v1/audit", params={"action": action}, headers=world["admin"].headers)
    assert found.status_code == 200, found.text
    rows: list[dict[str, object]] = found.json()
    return rows


def test_an_ended_membership_no_longer_reaches_the_patient(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    patient = f"/v1/patients/{world['patient_a'].patient_id}"
    headers = world["clinician_a"].headers
    _end_membership(app, world, clock.now() + timedelta(minutes=5))
    assert client.get(patient, headers=headers).status_code == 200
    assert [p["id"] for p in client.get("/v1/patients", headers=headers).json()] == [
        str(world["patient_a"].patient_id)
    ]
    clock.advance(timedelta(minutes=5))
    assert client.get(patient, headers=headers).status_code == 404
    assert client.get("/v1/patients", headers=headers).json() == []


def test_booking_records_the_membership_it_creates_and_who_extended_the_team(
    app: FastAPI, client: TestClient, world: World
) -> None:
    patient = world["patient_a"].patient_id
    assert patient is not None
    booking = _booking(world, _bookable_clinician_x(client, world))
    booked = client.post("/v1/visits", json=booking, headers=world["coordinator"].headers)
    assert booked.status_code == 201, booked.text
    made = _membership(app, world["clinician_x"].user_id, patient)
    assert made.source == CareSource.VISIT_BOOKING.value
    assert made.granted_by == world["coordinator"].user_id
    assert made.ends_at is None


def test_a_coordinators_assignment_records_its_source_and_grantor(
    app: FastAPI, client: TestClient, world: World
) -> None:
    patient = world["patient_a"].patient_id
    assert patient is not None
    assigned = client.post(
        f"/v1/patients/{patient}/care-team",
        json={"clinician_id": str(world["clinician_x"].user_id)},
        headers=world["coordinator"].headers,
    )
    assert assigned.status_code == 204, assigned.text
    made = _membership(app, world["clinician_x"].user_id, patient)
    assert made.source == CareSource.COORDINATOR.value
    assert made.granted_by == world["coordinator"].user_id


def test_a_membership_with_an_end_lasts_until_then_and_the_team_shows_it(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    patient = world["patient_a"].patient_id
    record = f"/v1/patients/{patient}"
    clinician = world["clinician_x"]
    assert client.get(record, headers=clinician.headers).status_code == 404
    ends = clock.now() + timedelta(hours=1)
    assigned = client.post(
        f"{record}/care-team",
        json={"clinician_id": str(clinician.user_id), "ends_at": ends.isoformat()},
        headers=world["coordinator"].headers,
    )
    assert assigned.status_code == 204, assigned.text
    assert client.get(record, headers=clinician.headers).status_code == 200
    team = client.get(f"{record}/care-team", headers=world["coordinator"].headers)
    assert team.status_code == 200, team.text
    member = next(m for m in team.json() if m["clinician_id"] == str(clinician.user_id))
    assert member["source"] == CareSource.COORDINATOR.value
    assert member["granted_by"] == str(world["coordinator"].user_id)
    assert member["current"] is True
    assert datetime.fromisoformat(member["ends_at"]) == ends
    clock.advance(timedelta(hours=1))
    assert client.get(record, headers=clinician.headers).status_code == 404
    team = client.get(f"{record}/care-team", headers=world["coordinator"].headers).json()
    assert [m["current"] for m in team if m["clinician_id"] == str(clinician.user_id)] == [False]


def test_a_membership_cannot_end_in_the_past(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    patient = world["patient_a"].patient_id
    assert patient is not None
    refused = client.post(
        f"/v1/patients/{patient}/care-team",
        json={
            "clinician_id": str(world["clinician_x"].user_id),
            "ends_at": (clock.now() - timedelta(minutes=1)).isoformat(),
        },
        headers=world["coordinator"].headers,
    )
    assert refused.status_code == 422, refused.text
    assert "future" in refused.json()["detail"]
    with pytest.raises(NoResultFound):
        _membership(app, world["clinician_x"].user_id, patient)


def test_a_manager_ends_a_membership_and_access_through_it_ends_at_once(
    client: TestClient, world: World
) -> None:
    patient = world["patient_a"].patient_id
    record = f"/v1/patients/{patient}"
    clinician = world["clinician_a"]
    assert client.get(record, headers=clinician.headers).status_code == 200
    member = f"{record}/care-team/{clinician.user_id}"
    ended = client.delete(member, headers=world["coordinator"].headers)
    assert ended.status_code == 204, ended.text
    assert client.get(record, headers=clinician.headers).status_code == 404
    assert client.delete(member, headers=world["coordinator"].headers).status_code == 404
    updates = _audit(client, world, "update")
    assert any(row["object_type"] == "care_assignment" for row in updates)


def test_a_break_glass_read_of_a_visit_is_recorded_as_break_glass(
    app: FastAPI, client: TestClient, world: World
) -> None:
    visit_id = book(app.state.services, world)
    granted = client.post(
        "/v1/break-glass",
        json={"patient_id": str(world["patient_a"].patient_id), "reason": REASON},
        headers=world["clinician_x"].headers,
    )
    assert granted.status_code == 201, granted.text
    read = client.get(f"/v1/visits/{visit_id}", headers=world["clinician_x"].headers)
    assert read.status_code == 200, read.text
    used = [
        row
        for row in _audit(client, world, "break_glass")
        if row["object_type"] == "visit" and row["object_id"] == str(visit_id)
    ]
    assert [row["detail"] for row in used] == [{"use": "read"}]


def test_every_registered_kind_answers_a_missing_object_as_not_found(
    app: FastAPI, world: World
) -> None:
    kinds = loader.registered()
    assert {"visit", "review_case", "monitoring_enrollment", "decision"} <= set(kinds)
    with acting(services_of(app), world["clinician_x"].user_id) as scope:
        for kind in kinds.values():
            with pytest.raises(DomainError) as refused:
                loader.load(scope, kind, uuid.uuid4())
            assert refused.value.code is ErrorCode.NOT_FOUND, kind.name


def test_an_unregistered_kind_is_a_wiring_error(app: FastAPI, world: World) -> None:
    stray = loader.Kind(
        "visit", "visit", lambda *_: None, lambda _: loader.Subject(uuid.uuid4(), None)
    )
    with (
        acting(services_of(app), world["clinician_x"].user_id) as scope,
        pytest.raises(LookupError),
    ):
        loader.load(scope, stray, uuid.uuid4())
    with pytest.raises(LookupError):
        loader.register(
            loader.Kind(
                "no_rule", "thing", lambda *_: None, lambda _: loader.Subject(uuid.uuid4(), None)
            )
        )


def test_a_refused_notification_is_audited_like_every_other_denial(
    client: TestClient, world: World
) -> None:
    booking = matrix_visits.visit_of_patient_a("notified")
    assert booking.target is not None
    booking.target(world)  # patient A is told of the booking
    inbox = client.get("/v1/notifications", headers=world["patient_a"].headers).json()
    theirs = inbox[0]["id"]
    refused = client.post(f"/v1/notifications/{theirs}/read", headers=world["clinician_x"].headers)
    assert refused.status_code == 404
    denied = [
        row
        for row in _audit(client, world, "access_denied")
        if row["object_type"] == "notification"
    ]
    assert [(row["object_id"], row["actor_id"]) for row in denied] == [
        (theirs, str(world["clinician_x"].user_id))
    ]


def test_another_organizations_grant_is_refused_as_missing_and_audited(
    client: TestClient, world: World
) -> None:
    granted = client.post(
        "/v1/break-glass",
        json={"patient_id": str(world["patient_a"].patient_id), "reason": REASON},
        headers=world["clinician_x"].headers,
    )
    assert granted.status_code == 201, granted.text
    grant = granted.json()["id"]
    review = {"outcome": "appropriate"}
    outsider = world["other_admin"].headers
    refused = client.post(f"/v1/break-glass/{grant}/review", json=review, headers=outsider)
    missing = client.post(f"/v1/break-glass/{uuid.uuid4()}/review", json=review, headers=outsider)
    assert refused.status_code == missing.status_code == 404
    assert refused.json()["detail"] == missing.json()["detail"]
    denied = client.get("/v1/audit", params={"action": "access_denied"}, headers=outsider).json()
    assert grant in {
        row["object_id"] for row in denied if row["object_type"] == "break_glass_grant"
    }
