"""A real FHIR client (fhirpy) reads and searches Appointment, Encounter, Questionnaire and
QuestionnaireResponse from the app served on a loopback port (one server for the module's one
test)."""

from __future__ import annotations

from fastapi import FastAPI
from fhirpy import SyncFHIRClient

from telehealth.portal import service as portal
from tests.fhir.support import valid_r4
from tests.review.support import DERM_ANSWERS, acting
from tests.serving import serving
from tests.support import World
from tests.visits.support import book, services_of, start


def test_a_fhir_client_reads_and_searches_visits_encounters_and_intakes(
    app: FastAPI, world: World
) -> None:
    services = services_of(app)
    visit_id = book(services, world)
    with acting(services, world["patient_a"]) as scope:
        intake_id = portal.start_intake(scope, visit_id, "Rash", dict(DERM_ANSWERS)).id
    start(services, world, visit_id)
    patient = world["patient_a"]
    with serving(app) as url:
        client = SyncFHIRClient(f"{url}/fhir/R4", authorization=f"Bearer {patient.token}")
        subject = f"Patient/{patient.patient_id}"

        appointment = client.reference("Appointment", str(visit_id)).to_resource()
        valid_r4(appointment.serialize())
        assert appointment["status"] == "arrived"
        found = client.resources("Appointment").search(patient=subject).fetch()
        assert [a.id for a in found] == [str(visit_id)]

        encounter = client.reference("Encounter", str(visit_id)).to_resource()
        valid_r4(encounter.serialize())
        assert encounter["class"]["code"] == "VR"
        encounters = (
            client.resources("Encounter")
            .search(patient=subject, status="in-progress")
            .include("Encounter", "appointment")
            .fetch_raw()
        )
        valid_r4(dict(encounters))
        modes = sorted(e["search"]["mode"] for e in encounters["entry"])
        assert modes == ["include", "match"]

        questionnaires = client.resources("Questionnaire").search(status="active").fetch_all()
        assert {q["url"] for q in questionnaires} == {
            "urn:telehealth:questionnaire:dermatology_lesion",
            "urn:telehealth:questionnaire:general_intake",
        }

        responses = client.resources("QuestionnaireResponse").search(patient=subject).fetch()
        assert [r.id for r in responses] == [str(intake_id)]
        response = client.reference("QuestionnaireResponse", str(intake_id)).to_resource()
        valid_r4(response.serialize())
        assert response["questionnaire"] == "urn:telehealth:questionnaire:dermatology_lesion|2"
        assert response["encounter"]["reference"] == f"Encounter/{visit_id}"
