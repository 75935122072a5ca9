"""Patient: read and search through the one access rule, US Core shaped, audited, R4-valid."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from telehealth.audit.tables import AuditRow
from tests.fhir.support import FHIR_JSON, fhir_get, outcome_code, valid_r4
from tests.support import World, scope_for


def test_a_patient_reads_their_own_record_as_us_core_patient(
    client: TestClient, world: World
) -> None:
    patient = world["patient_a"]
    response = fhir_get(client, patient, f"Patient/{patient.patient_id}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = response.json()
    valid_r4(body)
    assert body["id"] == str(patient.patient_id)
    assert body["meta"]["profile"] == [
        "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"
    ]
    assert body["identifier"][0]["system"] == "urn:telehealth:record-number"
    assert body["gender"] in {"female", "male", "other", "unknown"}
    assert response.headers["etag"] == f'W/"{body["meta"]["versionId"]}"'


def test_a_matching_etag_answers_not_modified(client: TestClient, world: World) -> None:
    patient = world["patient_a"]
    first = fhir_get(client, patient, f"Patient/{patient.patient_id}")
    again = client.get(
        f"/fhir/R4/Patient/{patient.patient_id}",
        headers={**patient.headers, "If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304
    changed = client.get(
        f"/fhir/R4/Patient/{patient.patient_id}",
        headers={**patient.headers, "If-None-Match": 'W/"999"'},
    )
    assert changed.status_code == 200


def test_another_patients_record_answers_exactly_as_a_missing_one(
    client: TestClient, world: World
) -> None:
    patient = world["patient_a"]
    other = world["patient_b"].patient_id
    hidden = fhir_get(client, patient, f"Patient/{other}")
    missing = fhir_get(client, patient, f"Patient/{uuid.uuid4()}")
    not_an_id = fhir_get(client, patient, "Patient/not-a-uuid")
    assert hidden.status_code == missing.status_code == not_an_id.status_code == 404
    assert outcome_code(hidden) == outcome_code(missing) == "not-found"
    assert hidden.json() == missing.json()
    assert "CanaryB" not in hidden.text


def test_search_finds_only_what_the_actor_may_read(client: TestClient, world: World) -> None:
    patient = world["patient_a"]
    bundle = fhir_get(client, patient, "Patient").json()
    valid_r4(bundle)
    assert bundle["type"] == "searchset"
    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(patient.patient_id)]
    coordinator = world["coordinator"]
    everyone = fhir_get(client, coordinator, "Patient", _count=200).json()
    ids = {e["resource"]["id"] for e in everyone["entry"]}
    assert str(patient.patient_id) in ids
    elsewhere = fhir_get(client, world["other_coordinator"], "Patient", _count=200).json()
    assert str(patient.patient_id) not in {e["resource"]["id"] for e in elsewhere["entry"]}


def test_search_by_name_identifier_birthdate_and_gender(client: TestClient, world: World) -> None:
    coordinator = world["coordinator"]
    own = fhir_get(client, world["patient_a"], f"Patient/{world['patient_a'].patient_id}").json()
    family = own["name"][0]["family"]
    number = own["identifier"][0]["value"]
    born = own["birthDate"]

    def ids(**params: str) -> set[str]:
        bundle = fhir_get(client, coordinator, "Patient", **params).json()
        return {e["resource"]["id"] for e in bundle.get("entry", [])}

    assert own["id"] in ids(family=family[:3].lower())
    assert ids(identifier=f"urn:telehealth:record-number|{number}") == {own["id"]}
    assert ids(identifier=number) == {own["id"]}
    assert own["id"] in ids(birthdate=born)
    assert own["id"] not in ids(birthdate=f"gt{born}")
    assert own["id"] in ids(birthdate=f"ge{born[:4]}")
    assert own["id"] in ids(gender=own["gender"])
    assert ids(_id=own["id"]) == {own["id"]}
    assert ids(_id="not-an-id") == set()


def test_paging_links_walk_every_match_once(client: TestClient, world: World) -> None:
    coordinator = world["coordinator"]
    every = fhir_get(client, coordinator, "Patient", _count=200).json()
    expected = [e["resource"]["id"] for e in every["entry"]]
    assert len(expected) >= 2
    seen: list[str] = []
    bundle = fhir_get(client, coordinator, "Patient", _count=1).json()
    while True:
        valid_r4(bundle)
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            break
        bundle = client.get(following[0], headers=coordinator.headers).json()
    assert seen == expected


def test_unknown_parameters_are_ignored_or_refused_as_the_client_prefers(
    client: TestClient, world: World
) -> None:
    coordinator = world["coordinator"]
    lenient = fhir_get(client, coordinator, "Patient", favourite_colour="blue")
    assert lenient.status_code == 200
    assert "favourite_colour" not in lenient.json()["link"][0]["url"]
    strict = client.get(
        "/fhir/R4/Patient",
        params={"favourite_colour": "blue"},
        headers={**coordinator.headers, "Prefer": "handling=strict"},
    )
    assert strict.status_code == 400
    assert outcome_code(strict) == "invalid"
    bad_date = fhir_get(client, coordinator, "Patient", birthdate="yesterday")
    assert bad_date.status_code == 400
    assert outcome_code(bad_date) == "invalid"


def test_signed_out_requests_get_an_operation_outcome(client: TestClient) -> None:
    response = client.get(f"/fhir/R4/Patient/{uuid.uuid4()}")
    assert response.status_code == 401
    assert outcome_code(response) == "login"


def test_every_read_and_search_is_audited(client: TestClient, world: World) -> None:
    patient = world["patient_a"]
    fhir_get(client, patient, f"Patient/{patient.patient_id}")
    fhir_get(client, patient, "Patient")
    with scope_for(world.settings, world.clock) as scope:
        rows = (
            scope.session.execute(
                select(AuditRow).where(
                    AuditRow.object_type == "patient",
                    AuditRow.object_id == str(patient.patient_id),
                    AuditRow.action == "read",
                )
            )
            .scalars()
            .all()
        )
    vias = sorted(str((row.detail or {}).get("via")) for row in rows)
    assert "fhir" in vias
    assert "list" in vias
