"""Shared steps for monitoring tests: enrol patient A, give them a device, send readings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi.testclient import TestClient

from tests.support import World

CONSENT = {"given_by": "patient", "method": "verbal", "at": "2026-11-01T15:00:00Z"}


def enroll(
    client: TestClient,
    world: World,
    program: str = "hypertension",
    start: date = date(2026, 11, 1),
    **extra: Any,
) -> dict[str, Any]:
    body = {"program": program, "episode_start": start.isoformat(), "consent": CONSENT, **extra}
    response = client.post(
        f"/v1/monitoring/patients/{world['patient_a'].patient_id}/enrollments",
        json=body,
        headers=world["clinician_a"].headers,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def add_device(
    client: TestClient,
    world: World,
    enrollment_id: str,
    device_type: str = "blood_pressure_monitor",
) -> tuple[str, dict[str, str]]:
    response = client.post(
        f"/v1/monitoring/enrollments/{enrollment_id}/devices",
        json={
            "device_type": device_type,
            "manufacturer": "Acme",
            "model": "BP-1",
            "serial": f"SN-{device_type}",
            "meets_fda_definition": True,
        },
        headers=world["clinician_a"].headers,
    )
    assert response.status_code == 201, response.text
    issued = response.json()
    return issued["device"]["id"], {"Authorization": f"Bearer {issued['token']}"}


def reading(code: str, value: float, unit: str, at: datetime | str) -> dict[str, Any]:
    effective = at if isinstance(at, str) else at.isoformat()
    return {"code": code, "value": value, "unit": unit, "effective": effective}


def bp(systolic: float, diastolic: float, at: datetime) -> list[dict[str, Any]]:
    return [reading("8480-6", systolic, "mm[Hg]", at), reading("8462-4", diastolic, "mm[Hg]", at)]


def post(client: TestClient, device: dict[str, str], readings: list[dict[str, Any]]) -> Any:
    return client.post(
        "/v1/monitoring/ingest/readings", json={"readings": readings}, headers=device
    )


def observation(
    code: str,
    at: datetime,
    value: float | None = None,
    unit: str = "",
    components: list[tuple[str, float, str]] | None = None,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "id": "local-1",
        "subject": {"reference": "Patient/x"},
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": at.isoformat(),
    }
    if value is not None:
        resource["valueQuantity"] = {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        }
    if components:
        resource["component"] = [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": c}]},
                "valueQuantity": {"value": v, "system": "http://unitsofmeasure.org", "code": u},
            }
            for c, v, u in components
        ]
    return {"resource": resource}


def bundle(*entries: dict[str, Any], kind: str = "batch") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}
