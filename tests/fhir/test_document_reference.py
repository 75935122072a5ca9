"""DocumentReference: case files through the case's access rule; content at Binary/<id>,
served, checked and audited as the native download."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from telehealth.audit.tables import AuditRow
from tests.fhir.support import fhir_get, outcome_code, search_ids, valid_r4
from tests.fhir.test_scoped_tokens import scoped_token
from tests.review.support import add_media, build_case, photo_bytes
from tests.support import Person, World, scope_for


def _ids(client: TestClient, person: Person, **params: object) -> list[str]:
    return search_ids(client, person, "DocumentReference", **params)


def test_a_file_reads_as_a_document_whose_url_serves_its_content(
    client: TestClient, world: World
) -> None:
    case_id = build_case(world, "queued")
    media_id = add_media(world, case_id, b"%PDF-1.7 canary-doc")
    patient = world["patient_a"]
    response = fhir_get(client, patient, f"DocumentReference/{media_id}")
    assert response.status_code == 200
    body = response.json()
    valid_r4(body)
    assert body["status"] == "current"
    assert body["subject"] == {"reference": f"Patient/{patient.patient_id}"}
    assert body["context"]["related"] == [{"reference": f"ServiceRequest/{case_id}"}]
    assert body["author"] == [{"reference": f"Patient/{patient.patient_id}"}]
    attachment = body["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf"
    assert attachment["size"] == len(b"%PDF-1.7 canary-doc")
    assert "hash" not in attachment  # only SHA-256 is kept; R4's hash is SHA-1
    assert attachment["url"].endswith(f"/fhir/R4/Binary/{media_id}")
    assert attachment["url"].startswith("http")
    content = client.get(attachment["url"], headers=patient.headers)
    assert content.status_code == 200
    assert content.content == b"%PDF-1.7 canary-doc"
    assert content.headers["content-type"] == "application/pdf"
    assert content.headers["cache-control"] == "no-store"
    native = client.get(f"/v1/cases/{case_id}/media/{media_id}", headers=patient.headers)
    assert content.headers["content-disposition"] == native.headers["content-disposition"]
    assert content.headers["content-security-policy"] == native.headers["content-security-policy"]


def test_another_patients_file_and_its_content_answer_as_missing_ones(
    client: TestClient, world: World
) -> None:
    media_id = add_media(world, build_case(world, "queued"))
    other = world["patient_b"]
    for path in ("DocumentReference", "Binary"):
        hidden = fhir_get(client, other, f"{path}/{media_id}")
        missing = fhir_get(client, other, f"{path}/{uuid.uuid4()}")
        assert hidden.status_code == missing.status_code == 404
        assert outcome_code(hidden) == "not-found"
        assert hidden.json() == missing.json()
        assert "canary" not in hidden.text


def test_search_by_patient_category_date_and_request(client: TestClient, world: World) -> None:
    case_id = build_case(world, "queued")
    other_case = build_case(world, "queued")
    document = str(add_media(world, case_id))
    photo = str(add_media(world, other_case, photo_bytes((10, 20, 30)), "image/png", kind="image"))
    subject = f"Patient/{world['patient_a'].patient_id}"
    coordinator = world["coordinator"]
    assert set(_ids(client, world["patient_a"])) >= {document, photo}
    assert _ids(client, world["patient_b"]) == []
    assert set(_ids(client, coordinator, patient=subject)) >= {document, photo}
    assert _ids(client, world["other_coordinator"], patient=subject) == []
    images = _ids(client, coordinator, subject=subject, category="image")
    assert photo in images
    assert document not in images
    system = "urn:telehealth:media-kind"
    assert document in _ids(client, coordinator, patient=subject, category=f"{system}|document")
    assert _ids(client, coordinator, patient=subject, related=f"ServiceRequest/{case_id}") == [
        document
    ]
    today = world.clock.now().date().isoformat()
    assert document in _ids(client, coordinator, patient=subject, date=today)
    assert _ids(client, coordinator, patient=subject, date=f"gt{today}") == []
    assert _ids(client, coordinator, patient=subject, _id=photo) == [photo]


def test_content_is_audited_as_a_download_and_reads_as_reads(
    client: TestClient, world: World
) -> None:
    media_id = add_media(world, build_case(world, "queued"))
    patient = world["patient_a"]
    fhir_get(client, patient, f"DocumentReference/{media_id}")
    fhir_get(client, patient, "DocumentReference")
    client.get(f"/fhir/R4/Binary/{media_id}", headers=patient.headers)
    with scope_for(world.settings, world.clock) as scope:
        rows = scope.session.scalars(
            select(AuditRow).where(
                AuditRow.object_type == "review_media", AuditRow.object_id == str(media_id)
            )
        ).all()
    seen = sorted(f"{row.action}:{(row.detail or {}).get('via')}" for row in rows)
    assert "download:None" in seen
    assert "read:fhir" in seen
    assert "read:list" in seen


def test_include_brings_the_patient(client: TestClient, world: World) -> None:
    add_media(world, build_case(world, "queued"))
    subject = f"Patient/{world['patient_a'].patient_id}"
    bundle = fhir_get(
        client,
        world["coordinator"],
        "DocumentReference",
        patient=subject,
        _include="DocumentReference:patient",
    ).json()
    valid_r4(bundle)
    included = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert [(r["resourceType"], r["id"]) for r in included] == [
        ("Patient", str(world["patient_a"].patient_id))
    ]


def test_content_takes_the_document_types_read_scope(client: TestClient, world: World) -> None:
    case_id = build_case(world, "queued")
    media_id = add_media(world, case_id, b"%PDF-1.7 canary-doc")
    patient = world["patient_a"]
    narrow = scoped_token(client, patient, "patient/Observation.rs")
    refused = client.get(f"/fhir/R4/Binary/{media_id}", headers=narrow.headers)
    assert refused.status_code == 403
    assert outcome_code(refused) == "forbidden"
    documents = scoped_token(client, patient, "patient/DocumentReference.rs")
    served = client.get(f"/fhir/R4/Binary/{media_id}", headers=documents.headers)
    assert served.status_code == 200
    assert served.content == b"%PDF-1.7 canary-doc"
