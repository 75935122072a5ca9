"""Appointment: visits through the visits' loader and list, R4-valid, searched and audited."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.visits import booking
from tests.fhir.support import (
    FHIR_JSON,
    audited_reads,
    every_page,
    fhir_get,
    match_ids,
    outcome_code,
    valid_r4,
)
from tests.support import World
from tests.visits.support import acting, book, link_for, next_free_slot, services_of, start


def test_a_patient_reads_their_visit_as_an_appointment(
    app: FastAPI, client: TestClient, world: World
) -> None:
    services = services_of(app)
    visit_id = book(services, world)
    token = link_for(services, visit_id, world["patient_a"].user_id)
    patient = world["patient_a"]
    response = fhir_get(client, patient, f"Appointment/{visit_id}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = response.json()
    valid_r4(body)
    assert body["id"] == str(visit_id)
    assert body["status"] == "booked"
    assert body["start"].endswith("Z")
    assert body["minutesDuration"] == 30
    actors = [p["actor"]["reference"] for p in body["participant"]]
    assert actors == [
        f"Patient/{patient.patient_id}",
        f"Practitioner/{world['clinician_a'].user_id}",
    ]
    assert body["extension"][0]["url"] == "urn:telehealth:fhir:virtual-modality"
    assert body["extension"][0]["valueCoding"]["code"] == "sync_audio_video"
    assert body["appointmentType"]["coding"][0]["code"] == "FOLLOWUP"
    # The join link is a credential: neither it nor its token is ever in the resource.
    assert token not in response.text
    assert "thv_" not in response.text
    assert "/join" not in response.text


def test_another_patients_visit_answers_exactly_as_a_missing_one(
    app: FastAPI, client: TestClient, world: World
) -> None:
    visit_id = book(services_of(app), world)
    other = world["patient_b"]
    hidden = fhir_get(client, other, f"Appointment/{visit_id}")
    missing = fhir_get(client, other, f"Appointment/{uuid.uuid4()}")
    assert hidden.status_code == missing.status_code == 404
    assert outcome_code(hidden) == outcome_code(missing) == "not-found"
    assert hidden.json() == missing.json()
    # The visit's own clinician and the coordinator read it.
    assert fhir_get(client, world["clinician_a"], f"Appointment/{visit_id}").status_code == 200
    assert fhir_get(client, world["coordinator"], f"Appointment/{visit_id}").status_code == 200


def test_status_follows_the_visit(app: FastAPI, client: TestClient, world: World) -> None:
    services = services_of(app)
    started = book(services, world)
    start(services, world, started)
    cancelled = book(services, world)
    with acting(services, world["coordinator"].user_id) as scope:
        booking.cancel(scope, cancelled)
    coordinator = world["coordinator"]

    def status(visit_id: uuid.UUID) -> str:
        return str(fhir_get(client, coordinator, f"Appointment/{visit_id}").json()["status"])

    assert status(started) == "arrived"
    assert status(cancelled) == "cancelled"
    assert match_ids(fhir_get(client, coordinator, "Appointment", status="cancelled").json()) == [
        str(cancelled)
    ]
    assert match_ids(fhir_get(client, coordinator, "Appointment", status="arrived").json()) == [
        str(started)
    ]
    assert match_ids(fhir_get(client, coordinator, "Appointment", status="noshow").json()) == []


def test_search_by_patient_practitioner_date_and_sort(
    app: FastAPI, client: TestClient, world: World
) -> None:
    services = services_of(app)
    first = book(services, world)
    second = book(services, world, slot=next_free_slot(services, world) + timedelta(days=1))
    patient = world["patient_a"]
    coordinator = world["coordinator"]
    own = fhir_get(client, patient, "Appointment").json()
    assert match_ids(own) == [str(first), str(second)]
    assert match_ids(fhir_get(client, world["patient_b"], "Appointment").json()) == []
    ids = match_ids(
        fhir_get(client, coordinator, "Appointment", patient=f"Patient/{patient.patient_id}").json()
    )
    assert ids == [str(first), str(second)]
    assert (
        match_ids(
            fhir_get(client, coordinator, "Appointment", patient=f"Patient/{uuid.uuid4()}").json()
        )
        == []
    )
    clinician = f"Practitioner/{world['clinician_a'].user_id}"
    assert match_ids(
        fhir_get(client, coordinator, "Appointment", practitioner=clinician).json()
    ) == [
        str(first),
        str(second),
    ]
    assert (
        match_ids(
            fhir_get(
                client, coordinator, "Appointment", practitioner=f"Practitioner/{uuid.uuid4()}"
            ).json()
        )
        == []
    )
    first_start = fhir_get(client, coordinator, f"Appointment/{first}").json()["start"]
    assert match_ids(
        fhir_get(client, coordinator, "Appointment", date=f"gt{first_start}").json()
    ) == [str(second)]
    assert match_ids(
        fhir_get(client, coordinator, "Appointment", date=first_start[:10]).json()
    ) == [str(first)]
    newest = fhir_get(client, coordinator, "Appointment", _sort="-date").json()
    assert match_ids(newest) == [str(second), str(first)]
    assert match_ids(fhir_get(client, coordinator, "Appointment", _id=str(second)).json()) == [
        str(second)
    ]


def test_paging_links_walk_every_visit_once(app: FastAPI, client: TestClient, world: World) -> None:
    services = services_of(app)
    booked = [book(services, world) for _ in range(3)]
    seen = every_page(client, world["coordinator"], "Appointment", _count=2)
    assert seen == [str(v) for v in booked]


def test_reads_and_searches_are_audited(app: FastAPI, client: TestClient, world: World) -> None:
    visit_id = book(services_of(app), world)
    patient = world["patient_a"]
    fhir_get(client, patient, f"Appointment/{visit_id}")
    fhir_get(client, patient, "Appointment")
    rows = audited_reads(world, "visit", visit_id)
    vias = sorted(str((row.detail or {}).get("via")) for row in rows)
    assert vias == ["fhir", "list"]
    assert {row.patient_id for row in rows} == {patient.patient_id}
