"""Break-glass access ends with its grant: nothing done under it leaves lasting access
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from telehealth.config import Settings
from tests.access.matrix import patient_a_id
from tests.access.matrix_monitoring import _objects as monitoring_objects
from tests.review.support import build_case, case_body
from tests.support import World
from tests.visits.support import book

pytestmark = pytest.mark.db

# 09:00 in Chicago on Monday 30 November 2026 (CST, UTC-6).
NINE_CHICAGO = "2026-11-30T15:00:00+00:00"
REASON = "Unconscious patient in the emergency room"


def _bookable_clinician_x(client: TestClient, world: World) -> str:
    """Clinician X, not caring for patient A, with everything a booking with them needs."""
    clinician = str(world["clinician_x"].user_id)
    staff = world["coordinator"].headers
    profile = client.patch(
        f"/v1/clinicians/{clinician}",
        json={"specialties": ["dermatology"], "video_capable": True},
        headers=staff,
    )
    assert profile.status_code == 200, profile.text
    license_ = client.post(
        f"/v1/clinicians/{clinician}/licenses",
        json={"state": "TX", "kind": "full", "number": "TX-2"},
        headers=staff,
    )
    assert license_.status_code == 201, license_.text
    window = {
        "clinician_id": clinician,
        "time_zone": "America/Chicago",
        "weekday": 0,
        "start": "09:00",
        "end": "12:00",
        "slot_minutes": 30,
    }
    opened = client.post(
        "/v1/visit-availability", json=window, headers=world["clinician_x"].headers
    )
    assert opened.status_code == 201, opened.text
    return clinician


def _booking(world: World, clinician: str) -> dict[str, Any]:
    return {
        "patient_id": str(world["patient_a"].patient_id),
        "clinician_id": clinician,
        "slot_start": NINE_CHICAGO,
        "located_state": "TX",
        "acuity": "routine",
        "purpose": "follow_up",
    }


def _break_glass(client: TestClient, world: World) -> None:
    grant = client.post(
        "/v1/break-glass",
        json={"patient_id": str(world["patient_a"].patient_id), "reason": REASON},
        headers=world["clinician_x"].headers,
    )
    assert grant.status_code == 201, grant.text


def test_nothing_done_under_break_glass_outlives_the_grant(
    client: TestClient, world: World, clock: FrozenClock, settings: Settings
) -> None:
    clinician = _bookable_clinician_x(client, world)
    case_id = build_case(world, "claimed")
    enrollment = monitoring_objects(world).enrollment
    patient = f"/v1/patients/{world['patient_a'].patient_id}"
    case = f"/v1/cases/{case_id}"
    readings = f"/v1/monitoring/enrollments/{enrollment}/readings"
    headers = world["clinician_x"].headers
    _break_glass(client, world)
    for path in (patient, case, readings):
        assert client.get(path, headers=headers).status_code == 200, path

    booked = client.post("/v1/visits", json=_booking(world, clinician), headers=headers)
    assert booked.status_code == 403, booked.text
    assert "emergency access" in booked.json()["detail"]
    enrolled = client.post(
        f"/v1/monitoring/patients/{world['patient_a'].patient_id}/enrollments",
        json={
            "program": "diabetes",
            "episode_start": "2026-11-01",
            "consent": {"given_by": "patient", "method": "verbal", "at": "2026-11-01T10:00:00Z"},
        },
        headers=headers,
    )
    assert enrolled.status_code == 403, enrolled.text
    consult = client.post(
        "/v1/cases",
        json=case_body(patient_id=str(world["patient_a"].patient_id)),
        headers=headers,
    )
    assert consult.status_code == 403, consult.text

    clock.advance(timedelta(minutes=settings.break_glass_minutes, seconds=1))
    for path in (patient, case, readings):
        assert client.get(path, headers=headers).status_code == 404, path
    assert client.get("/v1/visits", headers=headers).json() == []


def test_a_coordinator_still_books_a_clinician_who_holds_a_grant(
    client: TestClient, world: World
) -> None:
    clinician = _bookable_clinician_x(client, world)
    _break_glass(client, world)
    booked = client.post(
        "/v1/visits", json=_booking(world, clinician), headers=world["coordinator"].headers
    )
    assert booked.status_code == 201, booked.text
    # The coordinator's booking is a standing relationship: clinician X is now on the team.
    patient = f"/v1/patients/{world['patient_a'].patient_id}"
    assert client.get(patient, headers=world["clinician_x"].headers).status_code == 200


def test_a_clinician_caring_for_the_patient_books_with_a_colleague(
    client: TestClient, world: World
) -> None:
    clinician = _bookable_clinician_x(client, world)
    booked = client.post(
        "/v1/visits", json=_booking(world, clinician), headers=world["clinician_a"].headers
    )
    assert booked.status_code == 201, booked.text


def test_break_glass_grants_time_limited_audited_access(
    client: TestClient, world: World, clock: FrozenClock, settings: Settings
) -> None:
    outsider = world["clinician_x"]
    target = f"/v1/patients/{patient_a_id(world)}"
    assert client.get(target, headers=outsider.headers).status_code == 404
    short = client.post(
        "/v1/break-glass",
        json={"patient_id": patient_a_id(world), "reason": "x"},
        headers=outsider.headers,
    )
    assert short.status_code == 422
    grant = client.post(
        "/v1/break-glass",
        headers=outsider.headers,
        json={
            "patient_id": patient_a_id(world),
            "reason": "Unconscious patient in the emergency room",
        },
    )
    assert grant.status_code == 201
    assert client.get(target, headers=outsider.headers).status_code == 200
    pending = client.get("/v1/break-glass", headers=world["admin"].headers).json()
    assert [g["id"] for g in pending] == [grant.json()["id"]]
    audit = client.get(
        "/v1/audit", params={"action": "break_glass"}, headers=world["admin"].headers
    ).json()
    assert {row["detail"].get("use") for row in audit} >= {"granted", "read"}
    clock.advance(timedelta(minutes=settings.break_glass_minutes, seconds=1))
    assert client.get(target, headers=outsider.headers).status_code == 404
    reviewed = client.post(
        f"/v1/break-glass/{grant.json()['id']}/review",
        json={"outcome": "appropriate"},
        headers=world["admin"].headers,
    )
    assert reviewed.status_code == 200
    again = client.post(
        f"/v1/break-glass/{grant.json()['id']}/review",
        json={"outcome": "appropriate"},
        headers=world["admin"].headers,
    )
    assert again.status_code == 409


def _list_reads(client: TestClient, world: World, action: str, actor: str) -> list[Any]:
    rows = client.get(
        "/v1/audit", params={"action": action, "limit": 500}, headers=world["admin"].headers
    ).json()
    return [
        (row["object_type"], row["patient_id"])
        for row in rows
        if row["detail"].get("via") == "list" and row["actor_id"] == actor
    ]


def test_a_list_records_what_only_an_emergency_grant_reaches_as_break_glass(
    app: FastAPI, client: TestClient, world: World
) -> None:
    book(app.state.services, world)  # patient A's visit, with clinician A
    outsider = world["clinician_x"]
    granted = client.post(
        "/v1/break-glass",
        json={"patient_id": patient_a_id(world), "reason": REASON},
        headers=outsider.headers,
    )
    assert granted.status_code == 201, granted.text
    for path in ("/v1/patients", "/v1/visits"):
        for person in ("clinician_x", "clinician_a"):
            listed = client.get(path, headers=world[person].headers)
            assert listed.status_code == 200, listed.text
            assert listed.json(), (path, person)
    through_grant = _list_reads(client, world, "break_glass", str(outsider.user_id))
    assert sorted(through_grant) == [
        ("patient", patient_a_id(world)),
        ("visit", patient_a_id(world)),
    ]
    caring = world["clinician_a"]
    assert _list_reads(client, world, "break_glass", str(caring.user_id)) == []
    assert len(_list_reads(client, world, "read", str(caring.user_id))) >= 2
