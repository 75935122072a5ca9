"""Data days, management minutes and codes per period, across the 2025 → 2026 code change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.monitoring.helpers import add_device, enroll, post, reading
from tests.support import World

pytestmark = pytest.mark.db

EPISODE = date(2025, 11, 22)  # period 0: 2025-11-22..12-21; period 1: 2025-12-22..2026-01-20


def _days(first: date, count: int) -> list[dict[str, Any]]:
    # Two readings on each day: data days count days, not readings.
    return [
        reading(
            "8867-4",
            70,
            "/min",
            datetime.combine(first + timedelta(days=i), datetime.min.time(), UTC) + offset,
        )
        for i in range(count)
        for offset in (timedelta(hours=7), timedelta(hours=19))
    ]


def _log(
    client: TestClient, world: World, enrollment_id: str, minutes: int, on: date, interactive: bool
) -> None:
    response = client.post(
        f"/v1/monitoring/enrollments/{enrollment_id}/time-entries",
        json={"minutes": minutes, "performed_on": on.isoformat(), "interactive": interactive},
        headers=world["clinician_a"].headers,
    )
    assert response.status_code == 201, response.text


def _billing(client: TestClient, world: World, enrollment_id: str, month: str) -> Any:
    response = client.get(
        f"/v1/monitoring/enrollments/{enrollment_id}/billing",
        params={"month": month},
        headers=world["clinician_a"].headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def enrolled(client: TestClient, world: World) -> str:
    enrollment = enroll(client, world, start=EPISODE)
    _, device = add_device(client, world, enrollment["id"])
    assert post(client, device, _days(EPISODE, 12)).status_code == 200
    assert post(client, device, _days(date(2025, 12, 22), 12)).status_code == 200
    enrollment_id: str = enrollment["id"]
    return enrollment_id


def test_twelve_data_days_bill_nothing_in_2025_and_99445_in_2026(
    client: TestClient, world: World, enrolled: str
) -> None:
    periods = _billing(client, world, enrolled, "2025-12")["device_periods"]
    assert [(p["period_start"], p["period_end"], p["data_days"]) for p in periods] == [
        ("2025-11-22", "2025-12-21", 12),
        ("2025-12-22", "2026-01-20", 12),
    ]
    first, second = periods
    assert first["lines"] == []
    assert first["reason"] == "12 data days: not billable (99454 needs 16; 99445 starts in 2026)"
    assert [line["code"] for line in second["lines"]] == ["99445"]
    assert second["reason"] == "12 data days: 99445, not 99454 (99454 needs 16)"


def test_sixteen_days_in_the_first_period_bill_setup_and_99454(
    client: TestClient, world: World
) -> None:
    enrollment = enroll(client, world, start=date(2026, 3, 1))
    _, device = add_device(client, world, enrollment["id"])
    post(client, device, _days(date(2026, 3, 1), 16))
    period = _billing(client, world, enrollment["id"], "2026-03")["device_periods"][0]
    assert [line["code"] for line in period["lines"]] == ["99453", "99454"]
    assert period["reason"] == "16 data days: 99454 with 99453"
    assert period["complete"] is True


def test_management_minutes_by_calendar_month_and_date(
    client: TestClient, world: World, enrolled: str
) -> None:
    _log(client, world, enrolled, 15, date(2025, 12, 3), interactive=True)
    _log(client, world, enrolled, 15, date(2026, 1, 3), interactive=True)
    december = _billing(client, world, enrolled, "2025-12")["management"]
    assert (december["management_minutes"], december["lines"]) == (15, [])
    assert december["reason"] == "15 min: not billable (99457 needs 20)"
    january = _billing(client, world, enrolled, "2026-01")["management"]
    assert [line["code"] for line in january["lines"]] == ["99470"]
    _log(client, world, enrolled, 30, date(2026, 1, 9), interactive=False)
    january = _billing(client, world, enrolled, "2026-01")["management"]
    assert [(line["code"], line["units"]) for line in january["lines"]] == [
        ("99457", 1),
        ("99458", 1),
    ]


def test_minutes_without_interactive_communication_are_not_billed(
    client: TestClient, world: World, enrolled: str
) -> None:
    _log(client, world, enrolled, 40, date(2026, 1, 3), interactive=False)
    january = _billing(client, world, enrolled, "2026-01")["management"]
    assert january["lines"] == []
    assert "no real-time interactive communication" in january["reason"]


def test_timer_counts_whole_minutes_and_refuses_a_second_timer(
    client: TestClient, world: World, enrolled: str, clock: Any
) -> None:
    base = f"/v1/monitoring/enrollments/{enrolled}/timer"
    headers = world["clinician_a"].headers
    assert client.post(f"{base}/start", json={}, headers=headers).status_code == 201
    assert client.post(f"{base}/start", json={}, headers=headers).status_code == 409
    clock.advance(timedelta(minutes=12, seconds=50))
    stopped = client.post(f"{base}/stop", json={"interactive": True}, headers=headers)
    assert (stopped.json()["minutes"], stopped.json()["interactive"]) == (12, True)
    assert client.post(f"{base}/stop", json={}, headers=headers).status_code == 409
    month = clock.now().strftime("%Y-%m")
    management = _billing(client, world, enrolled, month)["management"]
    assert [line["code"] for line in management["lines"]] == ["99470"]


def test_time_cannot_be_logged_in_the_future(
    client: TestClient, world: World, enrolled: str, clock: Any
) -> None:
    tomorrow = clock.now().date() + timedelta(days=1)
    response = client.post(
        f"/v1/monitoring/enrollments/{enrolled}/time-entries",
        json={"minutes": 10, "performed_on": tomorrow.isoformat()},
        headers=world["clinician_a"].headers,
    )
    assert response.status_code == 422


def test_panel_sorts_by_open_alerts_then_data_days(
    client: TestClient, world: World, clock: Any
) -> None:
    today = clock.now().date()
    quiet = enroll(client, world, program="copd", start=today - timedelta(days=5))
    _, quiet_device = add_device(client, world, quiet["id"], "pulse_oximeter")
    post(
        client,
        quiet_device,
        [reading("59408-5", 97, "%", clock.now() - timedelta(days=d)) for d in range(5)],
    )
    alerting = enroll(client, world, program="hypertension", start=today - timedelta(days=5))
    _, bp_device = add_device(client, world, alerting["id"])
    post(client, bp_device, [reading("8480-6", 200, "mm[Hg]", clock.now() - timedelta(hours=1))])
    panel = client.get("/v1/monitoring/panel", headers=world["clinician_a"].headers)
    assert panel.status_code == 200
    rows = panel.json()
    assert [(r["program"], r["open_alerts"], r["data_days"]) for r in rows] == [
        ("hypertension", 1, 1),
        ("copd", 0, 5),
    ]
    assert rows[1]["billing_status"].startswith("5 data days: 99445")
    assert client.get("/v1/monitoring/panel", headers=world["clinician_x"].headers).json() == []
    assert client.get("/v1/monitoring/panel", headers=world["patient_a"].headers).status_code == 403
