"""Questionnaire: the patient questionnaires as canonical resources, read by any signed-in user."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from telehealth.fhir.questionnaire import questionnaire_id
from telehealth.review.model import QUESTIONNAIRES
from tests.fhir.support import fhir_get, outcome_code, valid_r4
from tests.support import World

GENERAL = QUESTIONNAIRES[("general_intake", 1)]
DERM_V1 = QUESTIONNAIRES[("dermatology_lesion", 1)]


def test_the_intake_questionnaire_reads_as_a_canonical_questionnaire(
    client: TestClient, world: World
) -> None:
    response = fhir_get(client, world["patient_b"], f"Questionnaire/{questionnaire_id(GENERAL)}")
    assert response.status_code == 200, response.text
    body = response.json()
    valid_r4(body)
    assert body["url"] == "urn:telehealth:questionnaire:general_intake"
    assert body["version"] == "1"
    assert body["status"] == "active"
    items = {i["linkId"]: i for i in body["item"]}
    assert list(items) == [q.id for q in GENERAL.questions]
    assert items["chief_complaint"]["type"] == "text"
    assert items["chief_complaint"]["required"] is True
    assert [o["valueCoding"]["code"] for o in items["onset"]["answerOption"]] == list(
        GENERAL.question("onset").options  # type: ignore[union-attr]
    )
    bounds = {
        e["url"].rsplit("/", 1)[1]: e["valueInteger"] for e in items["pain_score"]["extension"]
    }
    assert bounds == {"minValue": 0, "maxValue": 10}
    assert response.headers["etag"] == 'W/"1"'


def test_a_superseded_version_is_retired_and_a_multiple_choice_repeats(
    client: TestClient, world: World
) -> None:
    body = fhir_get(
        client, world["clinician_x"], f"Questionnaire/{questionnaire_id(DERM_V1)}"
    ).json()
    valid_r4(body)
    assert body["status"] == "retired"
    symptoms = next(i for i in body["item"] if i["linkId"] == "symptoms")
    assert symptoms["type"] == "choice"
    assert symptoms["repeats"] is True


def test_an_unknown_questionnaire_is_not_found(client: TestClient, world: World) -> None:
    response = fhir_get(client, world["patient_a"], f"Questionnaire/{uuid.uuid4()}")
    assert response.status_code == 404
    assert outcome_code(response) == "not-found"
    signed_out = client.get(f"/fhir/R4/Questionnaire/{questionnaire_id(GENERAL)}")
    assert signed_out.status_code == 401


def test_search_by_url_name_and_status(client: TestClient, world: World) -> None:
    patient = world["patient_a"]

    def ids(**params: str) -> set[str]:
        bundle = fhir_get(client, patient, "Questionnaire", **params).json()
        valid_r4(bundle)
        return {e["resource"]["id"] for e in bundle.get("entry", [])}

    every = {str(questionnaire_id(q)) for q in QUESTIONNAIRES.values()}
    assert ids() == every
    general = {str(questionnaire_id(GENERAL))}
    assert ids(url="urn:telehealth:questionnaire:general_intake") == general
    assert ids(url="urn:telehealth:questionnaire:general_intake|1") == general
    assert ids(url="urn:telehealth:questionnaire:general_intake|2") == set()
    assert ids(name="general") == general
    assert ids(status="retired") == {str(questionnaire_id(DERM_V1))}
    assert ids(status="active") == every - {str(questionnaire_id(DERM_V1))}
    first = fhir_get(client, patient, "Questionnaire", _count=1).json()
    assert len(first["entry"]) == 1
    assert any(link["relation"] == "next" for link in first["link"])


def test_the_capability_statement_lists_the_visit_and_intake_types(client: TestClient) -> None:
    statement = client.get("/fhir/R4/metadata").json()
    served = {r["type"]: r for r in statement["rest"][0]["resource"]}
    expected = {
        "Appointment": {"_id", "patient", "practitioner", "date", "status"},
        "Encounter": {"_id", "patient", "practitioner", "date", "status", "class"},
        "Questionnaire": {"_id", "url", "name", "status"},
        "QuestionnaireResponse": {"_id", "patient", "questionnaire", "authored", "status"},
    }
    for name, params in expected.items():
        assert {p["name"] for p in served[name]["searchParam"]} == params
    assert served["Encounter"]["searchInclude"] == ["Encounter:appointment"]
    assert served["Encounter"]["supportedProfile"] == [
        "http://hl7.org/fhir/us/core/StructureDefinition/us-core-encounter"
    ]
