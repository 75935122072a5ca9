"""Observation: monitoring readings read and searched through the one access rule, US Core
vital signs shaped, audited, R4-valid; created by a device through the native ingestion."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from telehealth.audit.tables import AuditRow
from telehealth.monitoring.tables import Alert, Reading
from tests.fhir.support import FHIR_JSON, fhir_get, outcome_code, valid_r4
from tests.monitoring.helpers import add_device, bp, enroll, post, reading
from tests.support import World, scope_for

pytestmark = pytest.mark.db

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"


def _monitored(client: TestClient, world: World) -> tuple[str, str, dict[str, str]]:
    """Patient A enrolled with a device that sent a blood pressure and a heart rate at T0, a
    weight at T0 + 1 day and a lone diastolic reading at T0 + 2 days."""
    enrollment = enroll(client, world)
    device_id, device = add_device(client, world, enrollment["id"])
    batch = [
        *bp(128, 82, T0),
        reading("8867-4", 72, "/min", T0),
        reading("29463-7", 180, "[lb_av]", T0 + timedelta(days=1)),
        reading("8462-4", 79, "mm[Hg]", T0 + timedelta(days=2)),
    ]
    response = post(client, device, batch)
    assert response.status_code == 200, response.text
    return enrollment["id"], device_id, device


def _search(client: TestClient, world: World, who: str = "clinician_a", **params: Any) -> Any:
    response = fhir_get(client, world[who], "Observation", **params)
    assert response.status_code == 200, response.text
    bundle = response.json()
    valid_r4(bundle)
    return bundle


def _matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def _codes(bundle: dict[str, Any]) -> list[str]:
    return [r["code"]["coding"][0]["code"] for r in _matches(bundle)]


def test_readings_are_us_core_vital_signs_with_blood_pressure_as_one_panel(
    client: TestClient, world: World
) -> None:
    _, device_id, _ = _monitored(client, world)
    bundle = _search(client, world, who="patient_a")
    found = {r["code"]["coding"][0]["code"]: r for r in _matches(bundle)}
    assert sorted(found) == ["29463-7", "8462-4", "85354-9", "8867-4"]
    panel = found["85354-9"]
    assert panel["meta"]["profile"] == [US_CORE + "us-core-blood-pressure"]
    assert panel["status"] == "final"
    assert panel["category"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "vital-signs",
        "display": "Vital Signs",
    }
    assert panel["subject"] == {"reference": f"Patient/{world['patient_a'].patient_id}"}
    assert panel["device"] == {"reference": f"Device/{device_id}"}
    assert panel["effectiveDateTime"] == "2026-11-20T08:00:00Z"
    assert panel["issued"].endswith("Z")
    assert "valueQuantity" not in panel
    parts = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in panel["component"]}
    assert parts["8480-6"]["value"] == 128
    assert parts["8462-4"]["value"] == 82
    assert parts["8480-6"]["system"] == "http://unitsofmeasure.org"
    assert parts["8480-6"]["code"] == "mm[Hg]"
    weight = found["29463-7"]
    assert weight["meta"]["profile"] == [US_CORE + "us-core-body-weight"]
    assert weight["valueQuantity"]["code"] == "kg"
    assert weight["valueQuantity"]["value"] == pytest.approx(81.647, abs=0.001)
    assert found["8867-4"]["meta"]["profile"] == [US_CORE + "us-core-heart-rate"]
    assert found["8462-4"]["meta"]["profile"] == [US_CORE + "us-core-vital-signs"]


def test_read_own_and_another_patients_reading_answers_as_a_missing_one(
    client: TestClient, world: World
) -> None:
    _monitored(client, world)
    panel = next(
        r
        for r in _matches(_search(client, world, who="patient_a"))
        if r["code"]["coding"][0]["code"] == "85354-9"
    )
    own = fhir_get(client, world["patient_a"], f"Observation/{panel['id']}")
    assert own.status_code == 200
    assert own.headers["content-type"].startswith(FHIR_JSON)
    valid_r4(own.json())
    assert own.json() == panel
    caring = fhir_get(client, world["clinician_a"], f"Observation/{panel['id']}")
    assert caring.status_code == 200
    hidden = fhir_get(client, world["patient_b"], f"Observation/{panel['id']}")
    missing = fhir_get(client, world["patient_b"], f"Observation/{uuid.uuid4()}")
    assert hidden.status_code == missing.status_code == 404
    assert outcome_code(hidden) == "not-found"
    assert hidden.json() == missing.json()
    other_clinician = fhir_get(client, world["clinician_x"], f"Observation/{panel['id']}")
    assert (
        other_clinician.json()
        == fhir_get(client, world["clinician_x"], f"Observation/{uuid.uuid4()}").json()
    )


def test_the_diastolic_reading_of_a_panel_is_no_resource_of_its_own(
    client: TestClient, world: World
) -> None:
    _monitored(client, world)
    with scope_for(world.settings, world.clock) as scope:
        paired = scope.session.execute(
            select(Reading.id).where(Reading.code == "8462-4", Reading.effective_at == T0)
        ).scalar_one()
    response = fhir_get(client, world["clinician_a"], f"Observation/{paired}")
    assert response.status_code == 404


def test_search_by_code_category_and_date(client: TestClient, world: World) -> None:
    _monitored(client, world)
    patient = f"Patient/{world['patient_a'].patient_id}"
    assert _codes(_search(client, world, patient=patient, code="85354-9")) == ["85354-9"]
    assert _codes(_search(client, world, subject=patient, code="http://loinc.org|8867-4")) == [
        "8867-4"
    ]
    assert _codes(_search(client, world, patient=patient, code="8480-6")) == []
    snomed = "http://snomed.info/sct|8867-4"
    assert _codes(_search(client, world, patient=patient, code=snomed)) == []
    assert _codes(_search(client, world, patient=patient, code="29463-7,8867-4")) == [
        "29463-7",
        "8867-4",
    ]
    assert len(_codes(_search(client, world, patient=patient, category="vital-signs"))) == 4
    assert _codes(_search(client, world, patient=patient, category="laboratory")) == []
    assert sorted(_codes(_search(client, world, patient=patient, date="2026-11-20"))) == [
        "85354-9",
        "8867-4",
    ]
    assert _codes(_search(client, world, patient=patient, date="gt2026-11-20")) == [
        "8462-4",
        "29463-7",
    ]
    assert _codes(
        _search(client, world, patient=patient, date=["ge2026-11-21", "lt2026-11-22"])
    ) == ["29463-7"]
    weight = _matches(_search(client, world, patient=patient, code="29463-7"))[0]["id"]
    assert [r["id"] for r in _matches(_search(client, world, patient=patient, _id=weight))] == [
        weight
    ]
    assert _matches(_search(client, world, patient=patient, _id="not-an-id")) == []


def test_newest_first_unless_sorted_by_date(client: TestClient, world: World) -> None:
    _monitored(client, world)
    patient = f"Patient/{world['patient_a'].patient_id}"
    newest = [r["effectiveDateTime"] for r in _matches(_search(client, world, patient=patient))]
    assert newest == sorted(newest, reverse=True)
    assert newest[0].startswith("2026-11-22")
    oldest = _matches(_search(client, world, patient=patient, _sort="date"))
    assert [r["effectiveDateTime"] for r in oldest] == sorted(newest)
    again = _matches(_search(client, world, patient=patient, _sort="-date"))
    assert [r["effectiveDateTime"] for r in again] == newest


def test_paging_counts_a_panel_once_and_walks_every_observation(
    client: TestClient, world: World
) -> None:
    _monitored(client, world)
    everything = [r["id"] for r in _matches(_search(client, world, who="patient_a"))]
    assert len(everything) == 4
    seen: list[str] = []
    bundle = _search(client, world, who="patient_a", _count=1)
    while True:
        valid_r4(bundle)
        seen += [r["id"] for r in _matches(bundle)]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            break
        bundle = client.get(following[0], headers=world["patient_a"].headers).json()
    assert seen == everything


def test_includes_bring_the_patient_and_the_device(client: TestClient, world: World) -> None:
    _, device_id, _ = _monitored(client, world)
    bundle = _search(
        client,
        world,
        patient=str(world["patient_a"].patient_id),
        _include=["Observation:patient", "Observation:device"],
    )
    included = {
        (e["resource"]["resourceType"], e["resource"]["id"])
        for e in bundle["entry"]
        if e["search"]["mode"] == "include"
    }
    assert included == {("Patient", str(world["patient_a"].patient_id)), ("Device", device_id)}


def test_a_search_shows_only_what_the_actor_may_read(client: TestClient, world: World) -> None:
    _monitored(client, world)
    patient_a = f"Patient/{world['patient_a'].patient_id}"
    assert _matches(_search(client, world, who="patient_b", patient=patient_a)) == []
    assert _matches(_search(client, world, who="clinician_x", patient=patient_a)) == []
    assert _matches(_search(client, world, who="other_coordinator", patient=patient_a)) == []
    assert len(_matches(_search(client, world, who="coordinator", patient=patient_a))) == 4
    assert _matches(_search(client, world, who="patient_b")) == []
    staff = fhir_get(client, world["clinician_a"], "Observation")
    assert staff.status_code == 400
    assert outcome_code(staff) == "invalid"
    assert staff.json()["issue"][0]["expression"] == ["patient"]


def test_reads_and_searches_are_audited_per_observation(client: TestClient, world: World) -> None:
    _monitored(client, world)
    bundle = _search(client, world, who="patient_a")
    ids = {r["id"] for r in _matches(bundle)}
    first = next(iter(ids))
    fhir_get(client, world["patient_a"], f"Observation/{first}")
    with scope_for(world.settings, world.clock) as scope:
        rows = (
            scope.session.execute(
                select(AuditRow).where(
                    AuditRow.object_type == "monitoring_reading", AuditRow.action == "read"
                )
            )
            .scalars()
            .all()
        )
    listed = {row.object_id for row in rows if (row.detail or {}).get("via") == "list"}
    assert listed == ids
    assert first in {row.object_id for row in rows if (row.detail or {}).get("via") == "fhir"}
    assert all(row.patient_id == world["patient_a"].patient_id for row in rows)


# --- create -----------------------------------------------------------------------------------


def _observation(code: str, at: datetime, value: float, unit: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": at.isoformat(),
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit},
        **extra,
    }


def _panel(systolic: float, diastolic: float, at: datetime) -> dict[str, Any]:
    def part(code: str, value: float) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {
                "value": value,
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        }

    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "effectiveDateTime": at.isoformat(),
        "component": [part("8480-6", systolic), part("8462-4", diastolic)],
    }


def _create(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> Any:
    return client.post(
        "/fhir/R4/Observation",
        content=json.dumps(body),
        headers={**headers, "Content-Type": FHIR_JSON},
    )


def _count(world: World, table: Any) -> int:
    with scope_for(world.settings, world.clock) as scope:
        return int(scope.session.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_device_creates_an_observation_once(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    device_id, device = add_device(client, world, enrollment["id"])
    body = _panel(131, 84, T0)
    first = _create(client, device, body)
    assert first.status_code == 201, first.text
    created = first.json()
    valid_r4(created)
    assert created["code"]["coding"][0]["code"] == "85354-9"
    assert created["device"] == {"reference": f"Device/{device_id}"}
    assert first.headers["location"].endswith(f"/Observation/{created['id']}/_history/1")
    assert _count(world, Reading) == 2
    again = _create(client, device, body)
    assert again.status_code == 200
    assert again.json() == created
    assert _count(world, Reading) == 2
    read = fhir_get(client, world["clinician_a"], f"Observation/{created['id']}")
    assert read.json() == created


def test_a_breach_raises_the_alert_native_ingestion_raises(
    client: TestClient, world: World
) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    assert _count(world, Alert) == 0
    response = _create(client, device, _panel(200, 90, T0))
    assert response.status_code == 201, response.text
    alerts = client.get(
        f"/v1/monitoring/enrollments/{enrollment['id']}/alerts",
        headers=world["clinician_a"].headers,
    ).json()
    assert [(a["rule"], a["observed_value"]) for a in alerts] == [("systolic_above", 200)]
    assert alerts[0]["observed_at"].startswith("2026-11-20T08:00:00")


def test_invalid_observations_are_refused_naming_the_element_and_nothing_is_written(
    client: TestClient, world: World
) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    cases = [
        (_observation("8867-4", T0, 900, "/min"), "Observation.valueQuantity"),
        (_observation("8867-4", T0, 70, "kg"), "Observation.valueQuantity"),
        (_observation("1234-5", T0, 70, "/min"), "Observation.code"),
        (_panel(80, 120, T0), "Observation.component"),
        (_panel(400, 80, T0), "Observation.component[0].valueQuantity"),
        (
            _observation("8867-4", T0 - timedelta(days=60), 70, "/min"),
            "Observation.effectiveDateTime",
        ),
        ({**_observation("8867-4", T0, 70, "/min"), "effectiveDateTime": None}, None),
        ({**_observation("8867-4", T0, 70, "/min"), "resourceType": "Patient"}, None),
        (
            _observation("8867-4", T0, 70, "/min", subject={"reference": "Patient/other"}),
            "Observation.subject",
        ),
    ]
    for body, element in cases:
        response = _create(client, device, body)
        assert response.status_code == 422, (body, response.text)
        assert outcome_code(response) == "invalid"
        expression = response.json()["issue"][0].get("expression", [""])[0]
        if element is not None:
            assert expression == element, (body, response.text)
        else:
            assert expression.startswith("Observation."), response.text
    assert _count(world, Reading) == 0
    assert _count(world, Alert) == 0


def test_only_a_device_token_creates(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    body = _observation("8867-4", T0, 70, "/min")
    for who in ("clinician_a", "patient_a", "admin"):
        response = _create(client, world[who].headers, body)
        assert response.status_code == 401, response.text
        assert outcome_code(response) == "security"
    signed_out = _create(client, {}, body)
    assert signed_out.status_code == 401
    assert _count(world, Reading) == 0
    assert _create(client, device, body).status_code == 201
