"""DiagnosticReport: signed specialist reports, amendments as new versions, drafts never out."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

from fastapi.testclient import TestClient

from telehealth.review import service
from tests.fhir.support import fhir_get, outcome_code, search_ids, valid_r4
from tests.review.support import REPORT, acting, build_case, signed_report_id
from tests.support import Person, World, services_for


def _amend(world: World, case_id: uuid.UUID) -> None:
    world.clock.advance(timedelta(hours=1))
    with services_for(world) as services, acting(services, world["clinician_a"]) as scope:
        amended = service.ReportInput(
            findings="Regular macule, rechecked",
            assessment="Benign naevus, confirmed",
            diagnosis_codes=["D22.6"],
            recommendation=REPORT.recommendation,
            minutes=5,
        )
        service.amend_report(scope, case_id, amended, "Second site examined")


def _ids(client: TestClient, person: Person, **params: object) -> list[str]:
    return search_ids(client, person, "DiagnosticReport", **params)


def test_a_signed_report_reads_final_and_an_amendment_makes_a_new_version(
    client: TestClient, world: World
) -> None:
    case_id = build_case(world, "signed")
    report_id = signed_report_id(world, case_id)
    patient = world["patient_a"]
    first = fhir_get(client, patient, f"DiagnosticReport/{report_id}")
    assert first.status_code == 200
    body = first.json()
    valid_r4(body)
    assert body["status"] == "final"
    assert body["meta"]["versionId"] == "1"
    assert body["basedOn"] == [{"reference": f"ServiceRequest/{case_id}"}]
    assert body["conclusion"] == REPORT.assessment
    assert body["conclusionCode"][0]["coding"][0]["code"] == "D22.5"
    text = base64.b64decode(body["presentedForm"][0]["data"]).decode()
    assert REPORT.findings in text
    _amend(world, case_id)
    again = fhir_get(client, patient, f"DiagnosticReport/{report_id}")
    latest = again.json()
    valid_r4(latest)
    assert latest["status"] == "amended"
    assert latest["meta"]["versionId"] == "2"
    assert again.headers["etag"] == 'W/"2"'
    assert latest["conclusion"] == "Benign naevus, confirmed"
    assert latest["issued"] > latest["effectiveDateTime"]
    assert "Second site examined" in base64.b64decode(latest["presentedForm"][0]["data"]).decode()


def test_a_draft_is_no_ones_not_even_its_authors(client: TestClient, world: World) -> None:
    case_id = build_case(world, "drafted")
    report_id = signed_report_id(world, case_id)
    for person in ("clinician_a", "patient_a", "coordinator"):
        draft = fhir_get(client, world[person], f"DiagnosticReport/{report_id}")
        missing = fhir_get(client, world[person], f"DiagnosticReport/{uuid.uuid4()}")
        assert draft.status_code == missing.status_code == 404
        assert draft.json() == missing.json()
        assert _ids(client, world[person], **{"based-on": f"ServiceRequest/{case_id}"}) == []


def test_another_patients_report_answers_exactly_as_a_missing_one(
    client: TestClient, world: World
) -> None:
    report_id = signed_report_id(world, build_case(world, "signed"))
    hidden = fhir_get(client, world["patient_b"], f"DiagnosticReport/{report_id}")
    missing = fhir_get(client, world["patient_b"], f"DiagnosticReport/{uuid.uuid4()}")
    assert hidden.status_code == 404
    assert outcome_code(hidden) == "not-found"
    assert hidden.json() == missing.json()


def test_search_by_patient_status_date_and_request(client: TestClient, world: World) -> None:
    plain_case = build_case(world, "signed")
    amended_case = build_case(world, "signed")
    _amend(world, amended_case)
    plain, amended = (
        str(signed_report_id(world, plain_case)),
        str(signed_report_id(world, amended_case)),
    )
    subject = f"Patient/{world['patient_a'].patient_id}"
    coordinator = world["coordinator"]
    assert set(_ids(client, world["patient_a"])) >= {plain, amended}
    assert _ids(client, world["patient_b"]) == []
    assert set(_ids(client, coordinator, patient=subject)) >= {plain, amended}
    assert _ids(client, world["other_coordinator"], patient=subject) == []
    assert plain in _ids(client, coordinator, patient=subject, status="final")
    assert amended not in _ids(client, coordinator, patient=subject, status="final")
    assert amended in _ids(client, coordinator, subject=subject, status="amended")
    assert _ids(client, coordinator, patient=subject, status="preliminary") == []
    assert _ids(client, coordinator, **{"based-on": f"ServiceRequest/{plain_case}"}) == []
    assert _ids(
        client, coordinator, patient=subject, **{"based-on": f"ServiceRequest/{plain_case}"}
    ) == [plain]
    today = world.clock.now().date().isoformat()
    assert plain in _ids(client, coordinator, patient=subject, date=f"le{today}")
    assert _ids(client, coordinator, patient=subject, date=f"gt{today}") == []
    assert _ids(client, coordinator, patient=subject, _id=amended) == [amended]


def test_include_brings_the_request_each_report_answers(client: TestClient, world: World) -> None:
    case_id = build_case(world, "signed")
    bundle = fhir_get(
        client, world["patient_a"], "DiagnosticReport", _include="DiagnosticReport:based-on"
    ).json()
    valid_r4(bundle)
    included = {
        e["resource"]["id"]: e["resource"]["resourceType"]
        for e in bundle["entry"]
        if e["search"]["mode"] == "include"
    }
    assert included[str(case_id)] == "ServiceRequest"
