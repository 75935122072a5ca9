"""ChargeItem: billing lines of ended visits (the visit's readers) and of signed reviews
(staff who may read the case, never the patient), R4-valid, audited."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from telehealth.fhir.charge import charge_id, charge_source
from tests.fhir.support import audited_reads, every_page, fhir_get, outcome_code, valid_r4
from tests.review.support import build_case
from tests.support import World
from tests.visits.support import in_call


def _coded_visit(app: FastAPI, client: TestClient, world: World, clock: FrozenClock) -> uuid.UUID:
    """A visit of patient A with video both ways for 25 minutes, ended at level 99213."""
    visit_id = in_call(app, world, clock, media="video")
    body = {"em_code": "99213", "em_basis": "mdm"}
    ended = client.post(
        f"/v1/visits/{visit_id}/end", json=body, headers=world["clinician_a"].headers
    )
    assert ended.status_code == 200, ended.text
    return visit_id


def _items(client: TestClient, person: object, **params: object) -> list[dict[str, Any]]:
    bundle = fhir_get(client, person, "ChargeItem", **params).json()  # type: ignore[arg-type]
    valid_r4(bundle)
    return [e["resource"] for e in bundle.get("entry", [])]


def test_a_line_id_reads_back_into_its_record_and_index() -> None:
    record = uuid.uuid4()
    ids = {charge_id(record, n) for n in range(16)}
    assert len(ids) == 16
    for n in range(16):
        assert charge_source(charge_id(record, n)) == (record, n)
    with pytest.raises(ValueError, match="0 to 15"):
        charge_id(record, 16)


def test_a_visits_line_answers_the_visits_readers(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    visit_id = _coded_visit(app, client, world, clock)
    patient = world["patient_a"]
    [item] = _items(client, patient, context=f"Encounter/{visit_id}")
    assert item["status"] == "billable"
    assert item["code"]["coding"][0] == {
        "system": "http://www.ama-assn.org/go/cpt",
        "code": "99213",
        "display": item["code"]["coding"][0]["display"],
    }
    assert item["subject"] == {"reference": f"Patient/{patient.patient_id}"}
    assert item["context"] == {"reference": f"Encounter/{visit_id}"}
    assert item["performer"] == [
        {"actor": {"reference": f"Practitioner/{world['clinician_a'].user_id}"}}
    ]
    urls = {e["url"] for e in item.get("extension", [])}
    assert "urn:telehealth:fhir:StructureDefinition/place-of-service" in urls
    read = fhir_get(client, patient, f"ChargeItem/{item['id']}")
    assert read.status_code == 200
    assert valid_r4(read.json())
    assert read.json() == item
    assert fhir_get(client, world["coordinator"], f"ChargeItem/{item['id']}").status_code == 200
    hidden = fhir_get(client, world["patient_b"], f"ChargeItem/{item['id']}")
    missing = fhir_get(client, world["patient_b"], f"ChargeItem/{uuid.uuid4()}")
    assert hidden.status_code == missing.status_code == 404
    assert outcome_code(hidden) == "not-found"
    assert hidden.json() == missing.json()


def test_a_reviews_lines_are_staffs_not_the_patients(client: TestClient, world: World) -> None:
    case_id = build_case(world, "signed")
    subject = f"Patient/{world['patient_a'].patient_id}"
    request = [{"reference": f"ServiceRequest/{case_id}"}]
    every = _items(client, world["coordinator"], patient=subject)
    items = [i for i in every if i.get("supportingInformation") == request]
    assert items
    assert all("context" not in i for i in items)
    one = items[0]
    assert one["code"]["coding"][0]["system"] in {
        "http://www.ama-assn.org/go/cpt",
        "urn:oid:2.16.840.1.113883.6.285",
    }
    assert fhir_get(client, world["clinician_a"], f"ChargeItem/{one['id']}").status_code == 200
    # The case shows its patient no billing: they see the case, so the line is refused.
    own = fhir_get(client, world["patient_a"], f"ChargeItem/{one['id']}")
    assert own.status_code == 403
    assert outcome_code(own) == "forbidden"
    hidden = fhir_get(client, world["patient_b"], f"ChargeItem/{one['id']}")
    missing = fhir_get(client, world["patient_b"], f"ChargeItem/{uuid.uuid4()}")
    assert hidden.status_code == 404
    assert hidden.json() == missing.json()
    assert not [i for i in _items(client, world["patient_a"]) if "supportingInformation" in i]
    assert _items(client, world["other_coordinator"], patient=subject) == []
    # Staff asking for no patient find the lines of the cases they reviewed.
    assert one["id"] in {i["id"] for i in _items(client, world["clinician_a"])}


def test_search_by_code_entered_date_and_paging(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    visit_id = _coded_visit(app, client, world, clock)
    build_case(world, "signed")
    coordinator = world["coordinator"]
    subject = f"Patient/{world['patient_a'].patient_id}"
    every = _items(client, coordinator, patient=subject)
    assert len(every) >= 2
    entered = [i["enteredDate"] for i in every]
    assert entered == sorted(entered, reverse=True)
    by_code = _items(
        client, coordinator, patient=subject, code="http://www.ama-assn.org/go/cpt|99213"
    )
    assert [i["context"]["reference"] for i in by_code] == [f"Encounter/{visit_id}"]
    assert _items(client, coordinator, patient=subject, code="99999") == []
    today = clock.now().date().isoformat()
    assert len(
        _items(client, coordinator, patient=subject, **{"entered-date": f"le{today}"})
    ) == len(every)
    assert _items(client, coordinator, patient=subject, **{"entered-date": f"gt{today}"}) == []
    assert [i["id"] for i in _items(client, coordinator, patient=subject, _id=every[0]["id"])] == [
        every[0]["id"]
    ]
    seen = every_page(client, coordinator, "ChargeItem", patient=subject, _count=1)
    with_patient = fhir_get(
        client, coordinator, "ChargeItem", patient=subject, _include="ChargeItem:patient"
    ).json()
    valid_r4(with_patient)
    modes = [e["search"]["mode"] for e in with_patient["entry"]]
    assert modes == ["match"] * len(every) + ["include"]
    assert seen == [i["id"] for i in every]


def test_reads_and_searches_are_audited(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    visit_id = _coded_visit(app, client, world, clock)
    patient = world["patient_a"]
    [item] = _items(client, patient, context=f"Encounter/{visit_id}")
    fhir_get(client, patient, f"ChargeItem/{item['id']}")
    rows = audited_reads(world, "billing_line", item["id"])
    vias = sorted(str((row.detail or {}).get("via")) for row in rows)
    assert vias == ["fhir", "list"]
