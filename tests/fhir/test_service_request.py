"""ServiceRequest: store-and-forward cases through the case's access rule, audited, R4-valid."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.fhir.support import (
    audited_reads,
    every_page,
    fhir_get,
    outcome_code,
    search_ids,
    valid_r4,
)
from tests.review.support import add_media, build_case
from tests.support import Person, World


def _ids(client: TestClient, person: Person, **params: object) -> list[str]:
    return search_ids(client, person, "ServiceRequest", **params)


def test_a_case_reads_as_a_service_request(client: TestClient, world: World) -> None:
    case_id = build_case(world, "claimed")
    media_id = add_media(world, case_id)
    response = fhir_get(client, world["patient_a"], f"ServiceRequest/{case_id}")
    assert response.status_code == 200
    body = response.json()
    valid_r4(body)
    assert body["status"] == "active"
    assert body["intent"] == "order"
    assert body["subject"] == {"reference": f"Patient/{world['patient_a'].patient_id}"}
    # A self-referral is the patient's own request; the claiming reviewer performs it.
    assert body["requester"]["reference"] == f"Patient/{world['patient_a'].patient_id}"
    assert body["performer"] == [{"reference": f"Practitioner/{world['clinician_a'].user_id}"}]
    assert body["supportingInfo"] == [{"reference": f"DocumentReference/{media_id}"}]
    assert body["code"]["coding"][0]["code"] == "dermatology"


def test_states_map_to_request_statuses(client: TestClient, world: World) -> None:
    expected = {"draft": "draft", "queued": "active", "signed": "completed"}
    for stage, status in expected.items():
        case_id = build_case(world, stage)
        body = fhir_get(client, world["clinician_a"], f"ServiceRequest/{case_id}").json()
        assert body["status"] == status, stage


def test_another_patients_case_answers_exactly_as_a_missing_one(
    client: TestClient, world: World
) -> None:
    case_id = build_case(world, "queued")
    hidden = fhir_get(client, world["patient_b"], f"ServiceRequest/{case_id}")
    missing = fhir_get(client, world["patient_b"], f"ServiceRequest/{uuid.uuid4()}")
    assert hidden.status_code == missing.status_code == 404
    assert outcome_code(hidden) == "not-found"
    assert hidden.json() == missing.json()


def test_search_by_patient_status_authored_and_people(client: TestClient, world: World) -> None:
    draft = str(build_case(world, "draft"))
    claimed = str(build_case(world, "claimed"))
    patient = world["patient_a"]
    subject = f"Patient/{patient.patient_id}"
    coordinator = world["coordinator"]
    assert set(_ids(client, patient)) >= {draft, claimed}
    assert _ids(client, world["patient_b"]) == []
    assert set(_ids(client, coordinator, patient=subject)) >= {draft, claimed}
    assert _ids(client, world["other_coordinator"], patient=subject) == []
    assert claimed in _ids(client, coordinator, patient=subject, status="active")
    assert draft not in _ids(client, coordinator, patient=subject, status="active")
    assert draft in _ids(client, coordinator, subject=subject, status="draft")
    reviewer = f"Practitioner/{world['clinician_a'].user_id}"
    assert _ids(client, coordinator, patient=subject, performer=reviewer) == [claimed]
    assert _ids(client, coordinator, patient=subject, requester=reviewer) == []
    today = world.clock.now().date().isoformat()
    assert set(_ids(client, coordinator, patient=subject, authored=today)) >= {draft, claimed}
    assert _ids(client, coordinator, patient=subject, authored=f"gt{today}") == []
    assert _ids(client, coordinator, patient=subject, _id=claimed) == [claimed]
    # Staff asking for no patient find the requests naming them.
    assert claimed in _ids(client, world["clinician_a"])
    assert claimed not in _ids(client, coordinator)


def test_paging_walks_every_match_once(client: TestClient, world: World) -> None:
    made = {str(build_case(world, "draft")) for _ in range(3)}
    patient = world["patient_a"]
    seen = every_page(client, patient, "ServiceRequest", _count=1)
    assert len(seen) == len(set(seen))
    assert made <= set(seen)


def test_reads_and_searches_are_audited(client: TestClient, world: World) -> None:
    case_id = build_case(world, "queued")
    patient = world["patient_a"]
    fhir_get(client, patient, f"ServiceRequest/{case_id}")
    fhir_get(client, patient, "ServiceRequest")
    rows = audited_reads(world, "review_case", case_id)
    vias = sorted(str((row.detail or {}).get("via")) for row in rows)
    assert "fhir" in vias
    assert "list" in vias


def test_include_brings_the_patients_the_actor_may_read(client: TestClient, world: World) -> None:
    build_case(world, "queued")
    patient = world["patient_a"]
    bundle = fhir_get(client, patient, "ServiceRequest", _include="ServiceRequest:patient").json()
    valid_r4(bundle)
    included = [e for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert [e["resource"]["id"] for e in included] == [str(patient.patient_id)]
    assert included[0]["resource"]["resourceType"] == "Patient"
    plain = fhir_get(client, patient, "ServiceRequest").json()
    assert all(e["search"]["mode"] == "match" for e in plain["entry"])
