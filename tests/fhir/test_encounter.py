"""Encounter: visits that took place, US Core shaped, with the modality used over time."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.visits import access, session_record
from tests.fhir.support import fhir_get, match_ids, outcome_code, valid_r4
from tests.support import World
from tests.visits.support import acting, book, services_of, start

SEGMENT = "urn:telehealth:fhir:modality-segment"


def _ended(app: FastAPI, world: World, minutes: int = 20) -> uuid.UUID:
    services = services_of(app)
    visit_id = book(services, world)
    start(services, world, visit_id)
    world.clock.advance(timedelta(minutes=minutes))
    with acting(services, world["clinician_a"].user_id) as scope:
        visit = access.clinician_visit(scope, visit_id, lock=True)
        session_record.end_visit(scope, None, visit, em_code=None)
    return visit_id


def test_a_visit_under_way_is_an_in_progress_virtual_encounter(
    app: FastAPI, client: TestClient, world: World
) -> None:
    services = services_of(app)
    visit_id = book(services, world)
    patient = world["patient_a"]
    booked = fhir_get(client, patient, f"Encounter/{visit_id}")
    missing = fhir_get(client, patient, f"Encounter/{uuid.uuid4()}")
    # A booked visit has not taken place: no encounter, answered as a missing one.
    assert booked.status_code == missing.status_code == 404
    assert booked.json() == missing.json()
    start(services, world, visit_id)
    response = fhir_get(client, patient, f"Encounter/{visit_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    valid_r4(body)
    assert body["meta"]["profile"] == [
        "http://hl7.org/fhir/us/core/StructureDefinition/us-core-encounter"
    ]
    assert body["status"] == "in-progress"
    assert body["class"]["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    assert body["class"]["code"] == "VR"
    assert body["subject"]["reference"] == f"Patient/{patient.patient_id}"
    assert body["appointment"] == [{"reference": f"Appointment/{visit_id}"}]
    assert body["participant"][0]["individual"]["reference"] == (
        f"Practitioner/{world['clinician_a'].user_id}"
    )
    assert "end" not in body["period"]
    segments = [e for e in body["extension"] if e["url"] == SEGMENT]
    assert len(segments) == 1
    parts = {p["url"]: p for p in segments[0]["extension"]}
    assert parts["modality"]["valueCoding"]["system"] == "urn:telehealth:modality"
    assert "end" not in parts["period"]["valuePeriod"]


def test_an_ended_visit_is_finished_with_its_period_length_and_segments(
    app: FastAPI, client: TestClient, world: World
) -> None:
    visit_id = _ended(app, world, minutes=20)
    body = fhir_get(client, world["clinician_a"], f"Encounter/{visit_id}").json()
    valid_r4(body)
    assert body["status"] == "finished"
    assert body["length"] == {
        "value": 20,
        "unit": "min",
        "system": "http://unitsofmeasure.org",
        "code": "min",
    }
    assert body["period"]["end"] > body["period"]["start"]
    segment = next(e for e in body["extension"] if e["url"] == SEGMENT)
    parts = {p["url"]: p for p in segment["extension"]}
    assert parts["period"]["valuePeriod"]["end"] == body["period"]["end"]
    appointment = fhir_get(client, world["clinician_a"], f"Appointment/{visit_id}").json()
    assert appointment["status"] == "fulfilled"


def test_another_patients_encounter_answers_exactly_as_a_missing_one(
    app: FastAPI, client: TestClient, world: World
) -> None:
    visit_id = _ended(app, world)
    other = world["patient_b"]
    hidden = fhir_get(client, other, f"Encounter/{visit_id}")
    missing = fhir_get(client, other, f"Encounter/{uuid.uuid4()}")
    assert hidden.status_code == missing.status_code == 404
    assert outcome_code(hidden) == "not-found"
    assert hidden.json() == missing.json()
    assert fhir_get(client, world["clinician_x"], f"Encounter/{visit_id}").status_code == 404


def test_search_by_status_class_patient_and_date_with_the_appointment_included(
    app: FastAPI, client: TestClient, world: World
) -> None:
    services = services_of(app)
    ended = _ended(app, world)
    under_way = book(services, world)
    start(services, world, under_way)
    book(services, world)  # booked: no encounter
    coordinator = world["coordinator"]

    def ids(**params: str) -> list[str]:
        return match_ids(fhir_get(client, coordinator, "Encounter", **params).json())

    assert ids() == [str(ended), str(under_way)]
    assert ids(_sort="-date") == [str(under_way), str(ended)]
    assert ids(status="finished") == [str(ended)]
    assert ids(status="in-progress") == [str(under_way)]
    assert ids(status="planned") == []
    assert ids(**{"class": "VR"}) == [str(ended), str(under_way)]
    assert ids(**{"class": "http://terminology.hl7.org/CodeSystem/v3-ActCode|VR"}) == ids()
    assert ids(**{"class": "AMB"}) == []
    patient = world["patient_a"]
    assert ids(patient=f"Patient/{patient.patient_id}") == [str(ended), str(under_way)]
    assert ids(patient=f"Patient/{world['patient_b'].patient_id}") == []
    began = fhir_get(client, coordinator, f"Encounter/{under_way}").json()["period"]["start"]
    assert ids(date=f"ge{began}") == [str(under_way)]
    assert ids(date=f"lt{began}") == [str(ended)]
    assert match_ids(fhir_get(client, world["patient_b"], "Encounter").json()) == []
    bundle = fhir_get(
        client, coordinator, "Encounter", _include="Encounter:appointment", status="finished"
    ).json()
    assert match_ids(bundle) == [str(ended)]
    assert match_ids(bundle, "include") == [str(ended)]
    included = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert included[0]["resourceType"] == "Appointment"
