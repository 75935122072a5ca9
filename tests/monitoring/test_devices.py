"""Device tokens: one device's key to its own ingestion, nothing else; hidden looks like missing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from tests.monitoring.helpers import add_device, bp, enroll, post
from tests.support import World

pytestmark = pytest.mark.db

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_device_token_reads_nothing_else(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    assert device["Authorization"].startswith("Bearer thd_")
    assert len(device["Authorization"].removeprefix("Bearer thd_")) >= 43  # 256 bits, base64
    for path in (
        f"/v1/monitoring/enrollments/{enrollment['id']}",
        f"/v1/monitoring/enrollments/{enrollment['id']}/readings",
        f"/v1/patients/{world['patient_a'].patient_id}",
        "/v1/me",
        "/v1/monitoring/panel",
    ):
        assert client.get(path, headers=device).status_code == 401, path


def test_user_token_cannot_post_readings(client: TestClient, world: World) -> None:
    enroll(client, world)
    for who in ("patient_a", "clinician_a"):
        response = post(client, world[who].headers, bp(120, 80, T0))
        assert response.status_code == 401


def test_readings_land_only_on_the_tokens_own_device(client: TestClient, world: World) -> None:
    first = enroll(client, world)
    first_device, first_token = add_device(client, world, first["id"])
    second = enroll(client, world, program="heart_failure")
    second_device, second_token = add_device(client, world, second["id"], "weight_scale")
    assert post(client, second_token, bp(120, 80, T0)).status_code == 200
    rows = client.get(
        f"/v1/monitoring/enrollments/{second['id']}/readings", headers=world["clinician_a"].headers
    ).json()
    assert {r["device_id"] for r in rows} == {second_device}
    assert (
        client.get(
            f"/v1/monitoring/enrollments/{first['id']}/readings",
            headers=world["clinician_a"].headers,
        ).json()
        == []
    )
    assert first_device != second_device
    assert first_token != second_token


def test_revoked_token_is_refused(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    device_id, device = add_device(client, world, enrollment["id"])
    revoked = client.post(
        f"/v1/monitoring/devices/{device_id}/revoke", headers=world["clinician_a"].headers
    )
    assert revoked.status_code == 200
    assert post(client, device, bp(120, 80, T0)).status_code == 401
    again = client.post(
        f"/v1/monitoring/devices/{device_id}/revoke", headers=world["clinician_a"].headers
    )
    assert again.status_code == 409


def test_ended_episode_stops_its_devices(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    ended = client.post(
        f"/v1/monitoring/enrollments/{enrollment['id']}/end",
        json={"episode_end": "2026-11-26"},
        headers=world["clinician_a"].headers,
    )
    assert ended.status_code == 200
    assert post(client, device, bp(120, 80, T0)).status_code == 401


def test_hidden_objects_answer_like_missing_ones(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    device_id, device = add_device(client, world, enrollment["id"])
    alert_id = post(client, device, bp(200, 100, T0)).json()["alerts"][0]
    pairs = [
        (f"/v1/monitoring/enrollments/{enrollment['id']}", "/v1/monitoring/enrollments/{}"),
        (f"/v1/monitoring/alerts/{alert_id}", "/v1/monitoring/alerts/{}"),
    ]
    for outsider in ("patient_b", "clinician_x", "other_admin"):
        headers = world[outsider].headers
        for real, template in pairs:
            hidden = client.get(real, headers=headers)
            missing = client.get(template.format(uuid.uuid4()), headers=headers)
            assert hidden.status_code == missing.status_code == 404
            assert hidden.json()["detail"] == missing.json()["detail"]
        revoke = client.post(f"/v1/monitoring/devices/{device_id}/revoke", headers=headers)
        assert revoke.status_code == 404
    audit = client.get(
        "/v1/audit", params={"action": "access_denied"}, headers=world["admin"].headers
    ).json()
    assert any(row["object_type"] == "monitoring_enrollment" for row in audit)


def test_enrolling_needs_a_clinician_caring_for_the_patient(
    client: TestClient, world: World
) -> None:
    body = {
        "program": "copd",
        "episode_start": "2026-11-01",
        "consent": {"given_by": "patient", "method": "written", "at": "2026-11-01T10:00:00Z"},
    }
    path = f"/v1/monitoring/patients/{world['patient_a'].patient_id}/enrollments"
    assert client.post(path, json=body, headers=world["clinician_x"].headers).status_code == 404
    assert client.post(path, json=body, headers=world["coordinator"].headers).status_code == 403
    assert client.post(path, json=body, headers=world["clinician_a"].headers).status_code == 201
    assert client.post(path, json=body, headers=world["clinician_a"].headers).status_code == 409
