"""Device: monitoring devices read and searched through the one access rule, R4-valid,
audited; a revoked device is inactive."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from telehealth.audit.tables import AuditRow
from tests.fhir.support import fhir_get, outcome_code, valid_r4
from tests.monitoring.helpers import add_device, enroll
from tests.support import World, scope_for

pytestmark = pytest.mark.db


def _devices(client: TestClient, world: World) -> tuple[str, str]:
    """Patient A's blood-pressure monitor and a revoked scale."""
    enrollment = enroll(client, world)
    monitor, _ = add_device(client, world, enrollment["id"])
    scale, _ = add_device(client, world, enrollment["id"], "weight_scale")
    revoked = client.post(
        f"/v1/monitoring/devices/{scale}/revoke", headers=world["clinician_a"].headers
    )
    assert revoked.status_code == 200, revoked.text
    return monitor, scale


def _ids(client: TestClient, world: World, who: str = "clinician_a", **params: Any) -> list[str]:
    response = fhir_get(client, world[who], "Device", **params)
    assert response.status_code == 200, response.text
    bundle = response.json()
    valid_r4(bundle)
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def test_a_device_reads_with_its_maker_model_serial_and_patient(
    client: TestClient, world: World
) -> None:
    monitor, scale = _devices(client, world)
    response = fhir_get(client, world["patient_a"], f"Device/{monitor}")
    assert response.status_code == 200
    body = response.json()
    valid_r4(body)
    assert body["status"] == "active"
    assert body["manufacturer"] == "Acme"
    assert body["modelNumber"] == "BP-1"
    assert body["serialNumber"] == "SN-blood_pressure_monitor"
    assert body["identifier"] == [
        {"system": "urn:telehealth:device-serial", "value": "SN-blood_pressure_monitor"}
    ]
    assert body["type"] == {"text": "blood pressure monitor"}
    assert body["patient"] == {"reference": f"Patient/{world['patient_a'].patient_id}"}
    assert body["meta"]["versionId"] == "1"
    revoked = fhir_get(client, world["clinician_a"], f"Device/{scale}").json()
    assert revoked["status"] == "inactive"
    assert revoked["meta"]["versionId"] == "2"


def test_another_patients_device_answers_exactly_as_a_missing_one(
    client: TestClient, world: World
) -> None:
    monitor, _ = _devices(client, world)
    for who in ("patient_b", "clinician_x", "other_coordinator"):
        hidden = fhir_get(client, world[who], f"Device/{monitor}")
        missing = fhir_get(client, world[who], f"Device/{uuid.uuid4()}")
        assert hidden.status_code == missing.status_code == 404
        assert outcome_code(hidden) == "not-found"
        assert hidden.json() == missing.json()


def test_search_by_patient_status_and_identifier(client: TestClient, world: World) -> None:
    monitor, scale = _devices(client, world)
    patient = f"Patient/{world['patient_a'].patient_id}"
    both = _ids(client, world, patient=patient)
    assert sorted(both) == sorted([monitor, scale])
    assert _ids(client, world, who="patient_a") == both
    assert _ids(client, world, patient=patient, status="active") == [monitor]
    assert _ids(client, world, patient=patient, status="inactive") == [scale]
    serial = "urn:telehealth:device-serial|SN-weight_scale"
    assert _ids(client, world, patient=patient, identifier=serial) == [scale]
    assert _ids(client, world, patient=patient, identifier="SN-nothing") == []
    assert _ids(client, world, patient=patient, _count=1) == both[:1]
    assert _ids(client, world, patient=patient, _count=1, _offset=1) == both[1:]
    assert _ids(client, world, who="patient_b", patient=patient) == []
    assert _ids(client, world, who="clinician_x", patient=patient) == []
    assert _ids(client, world, patient="Patient/not-an-id") == []
    unnamed = fhir_get(client, world["coordinator"], "Device")
    assert unnamed.status_code == 400
    assert outcome_code(unnamed) == "invalid"


def test_device_reads_are_audited(client: TestClient, world: World) -> None:
    monitor, _ = _devices(client, world)
    fhir_get(client, world["patient_a"], f"Device/{monitor}")
    _ids(client, world, who="patient_a")
    with scope_for(world.settings, world.clock) as scope:
        rows = (
            scope.session.execute(
                select(AuditRow).where(
                    AuditRow.object_type == "monitoring_device",
                    AuditRow.object_id == monitor,
                    AuditRow.action == "read",
                )
            )
            .scalars()
            .all()
        )
    assert sorted(str((row.detail or {}).get("via")) for row in rows) == ["fhir", "list"]
