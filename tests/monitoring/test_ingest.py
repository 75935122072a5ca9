"""Ingestion over HTTP: both formats, idempotency, units, refusals, skew, late readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from tests.monitoring.helpers import (
    add_device,
    bp,
    bundle,
    enroll,
    observation,
    post,
    reading,
)
from tests.support import World, without_identifiers

pytestmark = pytest.mark.db

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _readings(client: TestClient, world: World, enrollment_id: str) -> list[dict[str, object]]:
    response = client.get(
        f"/v1/monitoring/enrollments/{enrollment_id}/readings", headers=world["clinician_a"].headers
    )
    assert response.status_code == 200
    rows: list[dict[str, object]] = response.json()
    return rows


def test_json_batch_is_stored_once_when_resent(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    batch = [*bp(128, 82, T0), reading("8867-4", 72, "/min", T0)]
    first = post(client, device, batch)
    assert first.status_code == 200, first.text
    assert first.json() | {"alerts": []} == {
        "received": 3,
        "stored": 3,
        "duplicates": 0,
        "clock_skew": 0,
        "alerts": [],
    }
    again = post(client, device, [*batch, reading("8867-4", 75, "/min", T0 + timedelta(hours=1))])
    assert again.json()["stored"] == 1
    assert again.json()["duplicates"] == 3
    assert len(_readings(client, world, enrollment["id"])) == 4


def test_fhir_bundle_with_bp_panel_and_units(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world, program="diabetes")
    _, device = add_device(client, world, enrollment["id"], "glucometer")
    payload = bundle(
        observation(
            "85354-9", T0, components=[("8480-6", 120, "mm[Hg]"), ("8462-4", 80, "mm[Hg]")]
        ),
        observation("29463-7", T0, 176.37, "[lb_av]"),
        observation("2339-0", T0, 5.5, "mmol/L"),
        observation("59408-5", T0, 97, "%"),
        kind="transaction",
    )
    response = client.post("/v1/monitoring/ingest/fhir", json=payload, headers=device)
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 5
    values = {
        r["code"]: (r["value"], r["unit"]) for r in _readings(client, world, enrollment["id"])
    }
    assert values["8480-6"] == (120, "mm[Hg]")
    assert values["29463-7"] == (pytest.approx(80.0, abs=0.01), "kg")
    assert values["2339-0"] == (pytest.approx(99.09, abs=0.01), "mg/dL")
    resent = client.post("/v1/monitoring/ingest/fhir", json=payload, headers=device)
    assert resent.json()["duplicates"] == 5


def test_impossible_values_refuse_the_batch_naming_each_reading(
    client: TestClient, world: World
) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    batch = [
        *bp(120, 80, T0),
        reading("8480-6", 612, "mm[Hg]", T0 + timedelta(hours=1)),
        reading("8867-4", 70, "kg", T0),
    ]
    response = post(client, device, batch)
    assert response.status_code == 422
    body = response.json()
    assert [(e["index"], e["code"]) for e in body["errors"]] == [(2, "8480-6"), (3, "8867-4")]
    assert "reading 2 (8480-6)" in body["detail"]
    assert "612" not in without_identifiers(response.text)  # the value itself is never echoed
    assert _readings(client, world, enrollment["id"]) == []


def test_systolic_not_above_diastolic_is_refused(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    response = post(client, device, bp(80, 95, T0))
    assert response.status_code == 422
    assert response.json()["errors"][0]["reason"] == "systolic not above diastolic"


def test_unknown_code_and_missing_offset_are_refused(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    unknown = post(client, device, [reading("1234-5", 1, "%", T0)])
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["reason"] == "unsupported LOINC code"
    naive = post(client, device, [reading("8867-4", 70, "/min", "2026-11-20T08:00:00")])
    assert naive.status_code == 422


def test_readings_outside_the_episode_are_refused(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    early = post(client, device, [reading("8867-4", 70, "/min", T0 - timedelta(days=60))])
    assert early.status_code == 422
    assert "outside the episode" in early.json()["errors"][0]["reason"]


def test_device_clock_ahead_is_flagged_but_kept(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    ahead = clock.now() + timedelta(minutes=30)
    on_time = clock.now() + timedelta(minutes=2)
    response = post(
        client,
        device,
        [reading("8867-4", 70, "/min", ahead), reading("8867-4", 71, "/min", on_time)],
    )
    assert response.json()["clock_skew"] == 1
    flags = {r["value"]: r["clock_skew"] for r in _readings(client, world, enrollment["id"])}
    assert flags == {70: True, 71: False}


def test_fhir_entry_without_time_names_the_entry(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    entry = observation("8867-4", T0, 70, "/min")
    del entry["resource"]["effectiveDateTime"]
    response = client.post(
        "/v1/monitoring/ingest/fhir",
        headers=device,
        json=bundle(observation("8867-4", T0, 70, "/min"), entry),
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"index": 1, "code": "8867-4", "reason": "no effective time"}
    ]


def test_bundle_of_another_type_is_refused(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    response = client.post(
        "/v1/monitoring/ingest/fhir",
        headers=device,
        json=bundle(observation("8867-4", T0, 70, "/min"), kind="searchset"),
    )
    assert response.status_code == 422


def test_late_reading_counts_on_its_own_day_and_is_judged_at_its_time(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    enrollment = enroll(client, world, program="heart_failure")
    _, device = add_device(client, world, enrollment["id"], "weight_scale")
    later = T0 + timedelta(days=2)
    assert post(client, device, [reading("29463-7", 82.0, "kg", later)]).json()["alerts"] == []
    # A reading from the day before arrives late: 80 kg then 82 kg within a day is a gain.
    late = post(client, device, [reading("29463-7", 80.5, "kg", later - timedelta(hours=20))])
    assert late.status_code == 200
    alerts = client.get(
        f"/v1/monitoring/enrollments/{enrollment['id']}/alerts",
        headers=world["clinician_a"].headers,
    ).json()
    assert [(a["rule"], a["observed_at"][:10]) for a in alerts] == [
        ("weight_gain_day_kg", later.date().isoformat())
    ]
