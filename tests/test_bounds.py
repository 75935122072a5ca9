"""Dates, datetimes, months and counts out of range are refused with a 422 naming the field, and
rows stored before the bounds existed do not break the pages that list them (SQLite and
PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from telehealth.monitoring import model
from telehealth.monitoring.tables import Enrollment
from tests.monitoring.helpers import (
    CONSENT,
    add_device,
    bundle,
    enroll,
    observation,
    post,
    reading,
)
from tests.support import World, scope_for

pytestmark = pytest.mark.db

FAR = "9999-12-31"


def _refused(response: Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.json()["detail"]


def _far_future_enrollment(client: TestClient, world: World) -> dict[str, Any]:
    """An enrollment whose episode starts on the calendar's last day, stored as a row written
    before the bounds were checked would be."""
    enrolled = enroll(client, world)
    with scope_for(world.settings, world.clock) as scope:
        row = scope.session.get(Enrollment, uuid.UUID(enrolled["id"]))
        assert row is not None
        row.episode_start = date.max
    return enrolled


def test_a_far_future_episode_start_is_refused(client: TestClient, world: World) -> None:
    response = client.post(
        f"/v1/monitoring/patients/{world['patient_a'].patient_id}/enrollments",
        json={"program": "hypertension", "episode_start": FAR, "consent": CONSENT},
        headers=world["clinician_a"].headers,
    )
    _refused(response, "episode_start")


@pytest.mark.parametrize("viewer", ["coordinator", "admin", "clinician_a"])
def test_a_stored_far_future_episode_does_not_break_the_panel(
    client: TestClient, world: World, viewer: str
) -> None:
    stored = _far_future_enrollment(client, world)
    headers = world[viewer].headers
    panel = client.get("/v1/monitoring/panel", headers=headers)
    assert panel.status_code == 200, panel.text
    row = next(r for r in panel.json() if r["enrollment_id"] == stored["id"])
    assert row["period_start"] == row["period_end"] == date.max.isoformat()
    page = client.get("/monitoring", headers=headers, follow_redirects=False)
    assert page.status_code == 200
    assert "SecretA, CanaryA" in page.text
    billing = client.get(
        f"/v1/monitoring/enrollments/{stored['id']}/billing?month=2026-11", headers=headers
    )
    assert billing.status_code == 200, billing.text
    assert billing.json()["device_periods"] == []


def test_device_periods_end_with_the_calendar() -> None:
    start = date.max - timedelta(days=40)
    window = model.Period(start, date.max)
    periods = model.device_periods_overlapping(start, None, window)
    assert [(p.start, p.end) for p in periods] == [
        (start, start + timedelta(days=29)),
        (start + timedelta(days=30), date.max),
    ]


def test_a_naive_audit_search_time_is_refused(client: TestClient, world: World) -> None:
    response = client.get("/v1/audit?since=2026-01-01T00:00:00", headers=world["admin"].headers)
    _refused(response, "since")
    dated = client.get("/v1/audit?since=2026-01-01", headers=world["admin"].headers)
    _refused(dated, "since")
    aware = client.get("/v1/audit?since=2026-01-01T00:00:00Z", headers=world["admin"].headers)
    assert aware.status_code == 200, aware.text


@pytest.mark.parametrize("query", ["offset=9223372036854775808", "offset=100001", "limit=0"])
def test_list_offsets_and_limits_are_bounded(client: TestClient, world: World, query: str) -> None:
    for path in ("/v1/visits", "/v1/patients"):
        _refused(client.get(f"{path}?{query}", headers=world["admin"].headers), query[:5])


@pytest.mark.parametrize("month", ["0000-01", "9999-12", "1899-12", "2201-01", "2026-13"])
def test_billing_months_are_bounded(client: TestClient, world: World, month: str) -> None:
    enrolled = enroll(client, world)
    response = client.get(
        f"/v1/monitoring/enrollments/{enrolled['id']}/billing?month={month}",
        headers=world["clinician_a"].headers,
    )
    _refused(response, "month")


def test_an_empty_phone_is_stored_as_no_phone(client: TestClient, world: World) -> None:
    patient = world["patient_a"].patient_id
    response = client.patch(
        f"/v1/patients/{patient}",
        json={"phone": "", "version": 1},
        headers=world["coordinator"].headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["phone"] is None
    again = client.get(f"/v1/patients/{patient}", headers=world["coordinator"].headers)
    assert again.status_code == 200, again.text
    assert again.json()["phone"] is None


def test_a_slot_in_year_9999_is_refused(client: TestClient, world: World) -> None:
    clinician = str(world["clinician_a"].user_id)
    # Friday hours, as 31 December 9999 is a Friday: the slot would be on offer.
    hours = {"clinician_id": clinician, "time_zone": "UTC", "weekday": 4}
    window = {**hours, "start": "09:00", "end": "17:00", "slot_minutes": 30}
    opened = client.post(
        "/v1/visit-availability", json=window, headers=world["coordinator"].headers
    )
    assert opened.status_code == 201, opened.text
    body = {
        "patient_id": str(world["patient_a"].patient_id),
        "clinician_id": clinician,
        "slot_start": f"{FAR}T15:00:00+00:00",
        "located_state": "TX",
        "acuity": "routine",
        "purpose": "follow_up",
    }
    _refused(client.post("/v1/visits", json=body, headers=world["patient_a"].headers), "slot")


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (f"{FAR}T00:00:00Z", f"{FAR}T23:00:00Z", "start"),
        ("2026-11-30T00:00:00Z", f"{FAR}T23:00:00Z", "end"),
        ("2026-11-30T00:00:00", "2026-12-01T00:00:00Z", "start"),
    ],
)
def test_visit_slot_searches_are_bounded_and_aware(
    client: TestClient, world: World, start: str, end: str, field: str
) -> None:
    clinician = world["clinician_a"].user_id
    response = client.get(
        "/v1/visit-slots",
        params={"clinician_id": str(clinician), "start": start, "end": end},
        headers=world["patient_a"].headers,
    )
    _refused(response, field)


def test_a_reading_at_the_start_of_the_calendar_is_refused(
    client: TestClient, world: World
) -> None:
    enrolled = enroll(client, world)
    _device, headers = add_device(client, world, enrolled["id"])
    earliest = "0001-01-01T00:00:00+14:00"
    _refused(post(client, headers, [reading("8867-4", 70, "/min", earliest)]), "effective")
    entry = observation("8867-4", datetime(2026, 11, 20, 8, tzinfo=UTC), 70, "/min")
    entry["resource"]["effectiveDateTime"] = earliest
    response = client.post("/v1/monitoring/ingest/fhir", json=bundle(entry), headers=headers)
    _refused(response, "effectiveDateTime")


def test_a_required_patient_field_cannot_be_cleared(client: TestClient, world: World) -> None:
    patient = world["patient_a"].patient_id
    response = client.patch(
        f"/v1/patients/{patient}",
        json={"home_state": None, "version": 1},
        headers=world["coordinator"].headers,
    )
    _refused(response, "body")
    assert "home_state cannot be cleared" in response.text
