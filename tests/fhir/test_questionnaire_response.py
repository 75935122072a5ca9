"""QuestionnaireResponse: a patient's pre-visit intake answers, through the visit's loader."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.fhir.questionnaire import questionnaire_id
from telehealth.portal import service as portal
from telehealth.review.model import QUESTIONNAIRES
from tests.fhir.support import (
    audited_reads,
    every_page,
    fhir_get,
    match_ids,
    outcome_code,
    valid_r4,
)
from tests.review.support import DERM_ANSWERS, acting
from tests.support import World
from tests.visits.support import book, services_of, start

DERM = QUESTIONNAIRES[("dermatology_lesion", 2)]
REASON = "Itchy rash on my arm"


def _intake(app: FastAPI, world: World, *, complete: bool = False) -> tuple[uuid.UUID, uuid.UUID]:
    """A visit of patient A and the intake patient A filled in for it (sent when asked)."""
    services = services_of(app)
    visit_id = book(services, world)
    with acting(services, world["patient_a"]) as scope:
        intake_id = portal.start_intake(scope, visit_id, REASON, dict(DERM_ANSWERS)).id
    if complete:
        world.clock.advance(timedelta(minutes=5))
        with acting(services, world["patient_a"]) as scope:
            portal.complete_intake(scope, visit_id)
    return visit_id, intake_id


def test_a_patient_reads_their_intake_answers(
    app: FastAPI, client: TestClient, world: World
) -> None:
    visit_id, intake_id = _intake(app, world)
    patient = world["patient_a"]
    response = fhir_get(client, patient, f"QuestionnaireResponse/{intake_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    valid_r4(body)
    assert body["status"] == "in-progress"
    assert body["questionnaire"] == "urn:telehealth:questionnaire:dermatology_lesion|2"
    assert body["subject"]["reference"] == f"Patient/{patient.patient_id}"
    assert "encounter" not in body  # the visit has not taken place yet
    answers = {i["linkId"]: i["answer"] for i in body["item"]}
    assert answers["body_site"] == [{"valueCoding": {"code": "arm", "display": "Arm"}}]
    assert answers["changed"] == [{"valueBoolean": True}]
    assert answers["change_details"] == [{"valueString": "darker"}]
    assert answers["lesion_count"] == [{"valueInteger": 1}]
    assert [a["valueCoding"]["code"] for a in answers["symptoms"]] == ["itch"]
    assert "family_history_melanoma" not in answers  # not answered
    # Every answered item is a question of the questionnaire it names.
    form = fhir_get(client, patient, f"Questionnaire/{questionnaire_id(DERM)}").json()
    assert set(answers) <= {i["linkId"] for i in form["item"]}
    first_version = body["meta"]["versionId"]

    with acting(services_of(app), world["patient_a"]) as scope:
        portal.complete_intake(scope, visit_id)
    start(services_of(app), world, visit_id)
    sent = fhir_get(client, world["clinician_a"], f"QuestionnaireResponse/{intake_id}").json()
    valid_r4(sent)
    assert sent["status"] == "completed"
    assert sent["meta"]["versionId"] != first_version
    assert sent["encounter"] == {"reference": f"Encounter/{visit_id}"}


def test_another_patients_intake_answers_exactly_as_a_missing_one(
    app: FastAPI, client: TestClient, world: World
) -> None:
    _, intake_id = _intake(app, world)
    for outsider in ("patient_b", "clinician_x", "other_coordinator"):
        hidden = fhir_get(client, world[outsider], f"QuestionnaireResponse/{intake_id}")
        missing = fhir_get(client, world[outsider], f"QuestionnaireResponse/{uuid.uuid4()}")
        assert hidden.status_code == missing.status_code == 404
        assert outcome_code(hidden) == "not-found"
        assert hidden.json() == missing.json()
    assert fhir_get(client, world["coordinator"], f"QuestionnaireResponse/{intake_id}").is_success


def test_search_by_patient_questionnaire_status_and_authored(
    app: FastAPI, client: TestClient, world: World
) -> None:
    _, started = _intake(app, world)
    _, sent = _intake(app, world, complete=True)
    book(services_of(app), world)  # a visit without an intake
    coordinator = world["coordinator"]

    def ids(who: str = "coordinator", **params: str) -> list[str]:
        person = world[who] if who != "coordinator" else coordinator
        return match_ids(fhir_get(client, person, "QuestionnaireResponse", **params).json())

    both = [str(started), str(sent)]
    assert ids() == both
    assert ids("patient_a") == both
    assert ids("patient_b") == []
    assert ids("other_coordinator") == []
    assert ids(patient=f"Patient/{world['patient_a'].patient_id}") == both
    assert ids(patient=f"Patient/{world['patient_b'].patient_id}") == []
    assert ids(patient="Patient/not-an-id") == []
    assert ids(status="completed") == [str(sent)]
    assert ids(status="in-progress") == [str(started)]
    assert ids(questionnaire="urn:telehealth:questionnaire:dermatology_lesion|2") == both
    assert ids(questionnaire=f"Questionnaire/{questionnaire_id(DERM)}") == both
    assert ids(questionnaire="urn:telehealth:questionnaire:general_intake") == []
    authored = fhir_get(client, coordinator, f"QuestionnaireResponse/{sent}").json()["authored"]
    assert ids(authored=f"ge{authored}") == [str(sent)]
    assert ids(authored=f"lt{authored}") == [str(started)]
    # Paging walks every response once.
    assert every_page(client, coordinator, "QuestionnaireResponse", _count=1) == both


def test_reads_and_searches_are_audited_as_the_intakes_reads(
    app: FastAPI, client: TestClient, world: World
) -> None:
    _, intake_id = _intake(app, world)
    patient = world["patient_a"]
    fhir_get(client, patient, f"QuestionnaireResponse/{intake_id}")
    fhir_get(client, patient, "QuestionnaireResponse")
    rows = audited_reads(world, "visit_intake", intake_id)
    assert sorted(str((row.detail or {}).get("via")) for row in rows) == ["fhir", "list"]
    assert {row.patient_id for row in rows} == {patient.patient_id}
