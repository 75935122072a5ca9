"""Availability, booking, double-booking under concurrency, cancel, reschedule, reminders
(SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from telehealth.clock import FrozenClock
from telehealth.jobs import registered, run_job
from telehealth.notifications.tables import Notification
from tests.support import World
from tests.visits.support import FIRST_MONDAY, book, ensure_availability, services_of

pytestmark = pytest.mark.db

WINDOW = {
    "time_zone": "America/Chicago",
    "weekday": 0,
    "start": "09:00",
    "end": "12:00",
    "slot_minutes": 30,
}
# 09:00 in Chicago on Monday 30 November 2026 (CST, UTC-6).
NINE_CHICAGO = "2026-11-30T15:00:00+00:00"


def _booking(world: World, patient: str = "patient_a", **extra: Any) -> dict[str, Any]:
    return {
        "patient_id": str(world[patient].patient_id),
        "clinician_id": str(world["clinician_a"].user_id),
        "slot_start": NINE_CHICAGO,
        "located_state": "TX",
        "acuity": "routine",
        "purpose": "follow_up",
        **extra,
    }


@pytest.fixture
def open_hours(client: TestClient, world: World) -> None:
    body = {**WINDOW, "clinician_id": str(world["clinician_a"].user_id)}
    response = client.post(
        "/v1/visit-availability", json=body, headers=world["clinician_a"].headers
    )
    assert response.status_code == 201, response.text


def test_availability_is_kept_in_the_clinicians_time_zone(
    client: TestClient, world: World, open_hours: None
) -> None:
    slots = client.get(
        "/v1/visit-slots",
        headers=world["patient_a"].headers,
        params={
            "clinician_id": str(world["clinician_a"].user_id),
            "start": FIRST_MONDAY.isoformat(),
            "end": (FIRST_MONDAY + timedelta(days=1)).isoformat(),
        },
    )
    assert slots.status_code == 200
    first = slots.json()[0]
    assert first["start"].startswith("2026-11-30T15:00:00")
    assert first["local_start"].startswith("2026-11-30T09:00:00-06:00")
    assert len(slots.json()) == 6


def test_availability_rules(client: TestClient, world: World, open_hours: None) -> None:
    clinician = str(world["clinician_a"].user_id)
    overlap = {**WINDOW, "clinician_id": clinician, "start": "11:00", "end": "13:00"}
    assert (
        client.post(
            "/v1/visit-availability", json=overlap, headers=world["coordinator"].headers
        ).status_code
        == 409
    )
    other_zone = {**WINDOW, "clinician_id": clinician, "weekday": 1, "time_zone": "UTC"}
    assert (
        client.post(
            "/v1/visit-availability", json=other_zone, headers=world["coordinator"].headers
        ).status_code
        == 409
    )
    bad_zone = {**WINDOW, "clinician_id": clinician, "weekday": 2, "time_zone": "Mars/Base"}
    assert (
        client.post(
            "/v1/visit-availability", json=bad_zone, headers=world["coordinator"].headers
        ).status_code
        == 422
    )
    by_patient = {**WINDOW, "clinician_id": clinician, "weekday": 3}
    assert (
        client.post(
            "/v1/visit-availability", json=by_patient, headers=world["patient_a"].headers
        ).status_code
        == 403
    )
    elsewhere = {**WINDOW, "clinician_id": clinician, "weekday": 3}
    assert (
        client.post(
            "/v1/visit-availability", json=elsewhere, headers=world["other_admin"].headers
        ).status_code
        == 404
    )


def test_patient_books_and_the_decision_is_stored(
    client: TestClient, world: World, open_hours: None
) -> None:
    response = client.post("/v1/visits", json=_booking(world), headers=world["patient_a"].headers)
    assert response.status_code == 201, response.text
    visit = response.json()
    assert visit["status"] == "booked"
    assert visit["decision_id"] == visit["current_decision_id"]
    decision = client.get(
        f"/v1/decisions/{visit['decision_id']}", headers=world["patient_a"].headers
    )
    assert decision.status_code == 200
    inbox = client.get("/v1/notifications", headers=world["patient_a"].headers).json()
    assert any(n["kind"] == "visit_booked" for n in inbox)
    assert all("Canary" not in n["title"] for n in inbox)


def test_booking_for_another_patient_or_an_unlicensed_state_is_refused(
    client: TestClient, world: World, open_hours: None
) -> None:
    other = client.post(
        "/v1/visits", json=_booking(world, "patient_b"), headers=world["patient_a"].headers
    )
    assert other.status_code == 404
    unlicensed = client.post(
        "/v1/visits", json=_booking(world, located_state="NY"), headers=world["coordinator"].headers
    )
    assert unlicensed.status_code == 409
    outside_hours = client.post(
        "/v1/visits",
        headers=world["coordinator"].headers,
        json=_booking(world, slot_start="2026-11-30T20:00:00+00:00"),
    )
    assert outside_hours.status_code == 422


def test_concurrent_bookings_of_one_slot_have_exactly_one_winner(
    client: TestClient, world: World, open_hours: None
) -> None:
    attempts = 8
    barrier = threading.Barrier(attempts)
    statuses: list[int] = []
    lock = threading.Lock()

    def attempt(index: int) -> None:
        who = "coordinator" if index % 2 else "patient_a"
        patient = "patient_b" if index % 4 == 1 else "patient_a"
        barrier.wait()
        response = client.post(
            "/v1/visits", json=_booking(world, patient), headers=world[who].headers
        )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * (attempts - 1)
    visits = client.get("/v1/visits", headers=world["coordinator"].headers).json()
    assert len([v for v in visits if v["slot_start"].startswith("2026-11-30T15:00")]) == 1


def test_cancel_frees_the_slot_and_reschedule_moves_it(
    client: TestClient, world: World, open_hours: None
) -> None:
    headers = world["coordinator"].headers
    first = client.post("/v1/visits", json=_booking(world), headers=headers).json()
    taken = client.post("/v1/visits", json=_booking(world, "patient_b"), headers=headers)
    assert taken.status_code == 409
    moved = client.post(
        f"/v1/visits/{first['id']}/reschedule",
        headers=headers,
        json={"slot_start": "2026-11-30T15:30:00+00:00", "expected_version": 1},
    )
    assert moved.status_code == 200
    assert moved.json()["slot_start"].startswith("2026-11-30T15:30")
    stale = client.post(
        f"/v1/visits/{first['id']}/reschedule",
        headers=headers,
        json={"slot_start": "2026-11-30T16:00:00+00:00", "expected_version": 1},
    )
    assert stale.status_code == 409
    second = client.post("/v1/visits", json=_booking(world, "patient_b"), headers=headers)
    assert second.status_code == 201
    onto_taken = client.post(
        f"/v1/visits/{first['id']}/reschedule",
        headers=headers,
        json={"slot_start": NINE_CHICAGO, "expected_version": 2},
    )
    assert onto_taken.status_code == 409
    cancelled = client.post(f"/v1/visits/{second.json()['id']}/cancel", headers=headers)
    assert cancelled.json()["status"] == "cancelled"
    assert (
        client.post(f"/v1/visits/{second.json()['id']}/cancel", headers=headers).status_code == 409
    )
    again = client.post("/v1/visits", json=_booking(world, "patient_b"), headers=headers)
    assert again.status_code == 201


def test_admin_and_other_clinicians_cannot_change_a_booking(
    app: FastAPI, client: TestClient, world: World
) -> None:
    visit_id = book(services_of(app), world)
    # The administrator reads the visit, so it is no secret to them: the change is refused.
    assert client.get(f"/v1/visits/{visit_id}", headers=world["admin"].headers).status_code == 200
    refused = client.post(f"/v1/visits/{visit_id}/cancel", headers=world["admin"].headers)
    assert refused.status_code == 403
    audit = client.get(
        "/v1/audit", params={"action": "access_denied"}, headers=world["admin"].headers
    )
    denials = {(row["object_id"], row["actor_id"]) for row in audit.json()}
    assert (str(visit_id), str(world["admin"].user_id)) in denials
    for key in ("clinician_x", "patient_b", "other_coordinator"):
        response = client.post(f"/v1/visits/{visit_id}/cancel", headers=world[key].headers)
        assert response.status_code == 404, key


def test_reminders_go_out_once_ahead_of_the_visit(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    services = services_of(app)
    ensure_availability(services, world)
    book(services, world)
    job = next(j for j in registered() if j.name == "visits.reminders")
    assert run_job(job, services.sessions, services.ports) == 0
    clock.set(datetime.fromisoformat(NINE_CHICAGO) - timedelta(hours=20))
    assert run_job(job, services.sessions, services.ports) == 1
    assert run_job(job, services.sessions, services.ports) == 0
    # The clock moved past the test tokens' lifetime: read the inboxes directly.
    with services.sessions() as session:
        rows = (
            session.execute(
                select(Notification.user_id).where(Notification.kind == "visit_reminder")
            )
            .scalars()
            .all()
        )
    assert sorted(rows) == sorted([world["patient_a"].user_id, world["clinician_a"].user_id])


def test_lists_show_only_visits_the_actor_may_see(
    app: FastAPI, client: TestClient, world: World
) -> None:
    book(services_of(app), world)
    assert len(client.get("/v1/visits", headers=world["patient_a"].headers).json()) == 1
    for key in ("patient_b", "clinician_x", "other_coordinator"):
        assert client.get("/v1/visits", headers=world[key].headers).json() == [], key


def test_a_license_expired_on_the_day_of_the_visit_does_not_authorise_it(
    client: TestClient, world: World, open_hours: None
) -> None:
    clinician = world["clinician_a"].user_id
    for state, expires_on in (("NY", "2026-11-29"), ("CA", "2026-11-30")):
        added = client.post(
            f"/v1/clinicians/{clinician}/licenses",
            json={"state": state, "kind": "full", "number": f"{state}-9", "expires_on": expires_on},
            headers=world["admin"].headers,
        )
        assert added.status_code == 201, added.text
    # The visit is on 2026-11-30: the NY license ended the day before, the CA one ends that day.
    expired = client.post(
        "/v1/visits", json=_booking(world, located_state="NY"), headers=world["coordinator"].headers
    )
    assert expired.status_code == 409
    last_day = client.post(
        "/v1/visits", json=_booking(world, located_state="CA"), headers=world["coordinator"].headers
    )
    assert last_day.status_code == 201, last_day.text
