"""Thresholds, alert rules and the alert lifecycle; visit requests and messages from alerts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from telehealth.jobs import registered as registered_jobs
from telehealth.jobs import run_job
from tests.monitoring.helpers import add_device, bp, enroll, post, reading
from tests.support import World

pytestmark = pytest.mark.db

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _alerts(client: TestClient, world: World, enrollment_id: str) -> list[dict[str, Any]]:
    response = client.get(
        f"/v1/monitoring/enrollments/{enrollment_id}/alerts", headers=world["clinician_a"].headers
    )
    assert response.status_code == 200
    rows: list[dict[str, Any]] = response.json()
    return rows


def _act(
    client: TestClient, world: World, alert_id: str, action: str, who: str = "clinician_a"
) -> Any:
    return client.post(
        f"/v1/monitoring/alerts/{alert_id}/transitions",
        json={"action": action},
        headers=world[who].headers,
    )


def test_program_limit_raises_one_alert_until_resolved(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    first = post(client, device, bp(190, 95, T0))
    assert len(first.json()["alerts"]) == 1
    # Still high: the open alert covers it; no second alert for the same rule.
    assert post(client, device, bp(195, 96, T0 + timedelta(hours=2))).json()["alerts"] == []
    alert = _alerts(client, world, enrollment["id"])[0]
    assert (alert["rule"], alert["limit_value"], alert["status"]) == ("systolic_above", 180, "open")
    notes = client.get("/v1/notifications", headers=world["clinician_a"].headers).json()
    assert any(n["kind"] == "monitoring_alert" for n in notes)


def test_patient_override_replaces_the_program_limit(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    response = client.put(
        f"/v1/monitoring/enrollments/{enrollment['id']}/thresholds",
        json={"systolic_above": 150, "heart_rate_below": None},
        headers=world["clinician_a"].headers,
    )
    assert response.status_code == 200
    assert response.json()["systolic_above"] == 150
    assert response.json()["heart_rate_below"] is None
    assert response.json()["diastolic_above"] == 110  # untouched program value
    assert len(post(client, device, bp(160, 90, T0)).json()["alerts"]) == 1
    assert post(client, device, [reading("8867-4", 35, "/min", T0)]).json()["alerts"] == []


def test_org_program_thresholds_apply_to_new_readings(client: TestClient, world: World) -> None:
    changed = client.put(
        "/v1/monitoring/programs/copd/thresholds",
        json={"spo2_below": 92},
        headers=world["coordinator"].headers,
    )
    assert changed.status_code == 200
    refused = client.put(
        "/v1/monitoring/programs/copd/thresholds",
        json={"spo2_below": 92},
        headers=world["clinician_a"].headers,
    )
    assert refused.status_code == 403
    enrollment = enroll(client, world, program="copd")
    _, device = add_device(client, world, enrollment["id"], "pulse_oximeter")
    alerts = post(client, device, [reading("59408-5", 90, "%", T0)]).json()["alerts"]
    assert len(alerts) == 1


def test_glucose_limits_in_either_unit(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world, program="diabetes")
    _, device = add_device(client, world, enrollment["id"], "glucometer")
    # 3.5 mmol/L is 63 mg/dL, under the 70 mg/dL limit.
    low = post(client, device, [reading("2339-0", 3.5, "mmol/L", T0)])
    assert len(low.json()["alerts"]) == 1
    assert _alerts(client, world, enrollment["id"])[0]["rule"] == "glucose_below"


def test_weight_gain_over_a_week(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world, program="heart_failure")
    _, device = add_device(client, world, enrollment["id"], "weight_scale")
    days = [T0 - timedelta(days=6 - i) for i in range(7)]
    weights = [80.0, 80.4, 80.8, 81.2, 81.6, 82.0, 82.5]  # under 1 kg a day, 2.5 kg a week
    response = post(
        client, device, [reading("29463-7", w, "kg", d) for w, d in zip(weights, days, strict=True)]
    )
    assert response.status_code == 200
    assert [a["rule"] for a in _alerts(client, world, enrollment["id"])] == ["weight_gain_week_kg"]


def test_alert_lifecycle_records_who_and_when(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    alert_id = post(client, device, bp(200, 100, T0)).json()["alerts"][0]
    assert _act(client, world, alert_id, "resolve").status_code == 409  # must be acknowledged
    acknowledged = _act(client, world, alert_id, "acknowledge", who="coordinator")
    assert acknowledged.status_code == 200
    assert acknowledged.json()["acknowledged_by"] == str(world["coordinator"].user_id)
    assert _act(client, world, alert_id, "acknowledge").status_code == 409
    clock.advance(timedelta(minutes=5))
    escalated = _act(client, world, alert_id, "escalate").json()
    assert escalated["status"] == "escalated"
    assert escalated["escalated_by"] == str(world["clinician_a"].user_id)
    resolved = _act(client, world, alert_id, "resolve").json()
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] > resolved["acknowledged_at"]
    assert _act(client, world, alert_id, "escalate").status_code == 409
    assert _act(client, world, alert_id, "acknowledge", who="patient_a").status_code == 403
    # Resolved: the next breach raises a new alert.
    assert len(post(client, device, bp(200, 100, T0 + timedelta(days=1))).json()["alerts"]) == 1


def test_no_data_job_alerts_once_per_silent_device(
    client: TestClient, world: World, clock: FrozenClock, app: FastAPI
) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    assert post(client, device, bp(120, 80, clock.now() - timedelta(hours=1))).status_code == 200
    services = app.state.services
    job = next(j for j in registered_jobs() if j.name == "monitoring.no_data_alerts")
    assert run_job(job, services.sessions, services.ports) == 0
    # The job runs later on its own clock (the API tokens of the test would have expired).
    later = FrozenClock(clock.now() + timedelta(days=3, hours=1))
    assert run_job(job, services.sessions, replace(services.ports, clock=later)) == 1
    assert run_job(job, services.sessions, replace(services.ports, clock=later)) == 0
    alerts = _alerts(client, world, enrollment["id"])
    assert [(a["kind"], a["rule"]) for a in alerts] == [("no_data", "no_data")]


def test_visit_request_and_message_from_an_alert(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    alert_id = post(client, device, bp(200, 100, T0)).json()["alerts"][0]
    requested = client.post(
        f"/v1/monitoring/alerts/{alert_id}/visit-requests",
        json={},
        headers=world["clinician_a"].headers,
    )
    assert requested.status_code == 201
    assert requested.json()["link"] == f"/monitoring/enrollments/{enrollment['id']}"
    twice = client.post(
        f"/v1/monitoring/alerts/{alert_id}/visit-requests",
        json={},
        headers=world["clinician_a"].headers,
    )
    assert twice.status_code == 409
    coordinator_notes = client.get("/v1/notifications", headers=world["coordinator"].headers)
    assert [n["kind"] for n in coordinator_notes.json()] == ["visit_request"]
    sent = client.post(
        f"/v1/monitoring/enrollments/{enrollment['id']}/messages",
        json={"body": "Please recheck your pressure.", "alert_id": alert_id},
        headers=world["clinician_a"].headers,
    )
    assert sent.status_code == 201
    inbox = client.get(
        f"/v1/monitoring/enrollments/{enrollment['id']}/messages",
        headers=world["patient_a"].headers,
    )
    assert [m["body"] for m in inbox.json()] == ["Please recheck your pressure."]
    patient_notes = client.get("/v1/notifications", headers=world["patient_a"].headers).json()
    assert {n["kind"] for n in patient_notes} == {"monitoring_message"}
    assert all("pressure" not in n["title"] for n in patient_notes)
