"""Consent: visits' informed consent to telehealth and monitoring enrollments' consent, with
the requirement and citation they were taken for and how the terms hold them now, through
the visit's and enrollment's read rule, R4-valid, audited."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from telehealth.audit.tables import AuditRow
from telehealth.clock import FrozenClock
from telehealth.identity import queries as identity_queries
from telehealth.identity import service as identity
from telehealth.identity.tables import Patient
from telehealth.visits import booking
from tests.fhir.support import fhir_get, outcome_code, valid_r4
from tests.support import World, scope_for
from tests.visits.support import acting, book, license_clinician_a, link_for, services_of

pytestmark = pytest.mark.db

CITATION = "urn:telehealth:fhir:citation"
SIGNATURE_DUE = "urn:telehealth:fhir:signature-due"


def _verbal_visit_consents(app: FastAPI, client: TestClient, world: World) -> list[str]:
    """Clinician A takes patient A's verbal consent in a Nebraska visit (a signed statement is
    due within ten days there): the ids of its consents, one per requirement, the one whose
    terms want a signature first."""
    services = services_of(app)
    license_clinician_a(services, world, "NE")
    intake = booking.Intake(
        located_state="NE", acuity="routine", purpose="follow_up", payer="commercial"
    )
    visit_id = book(services, world, intake=intake)
    patient = {"X-Visit-Token": link_for(services, visit_id, world["patient_a"].user_id)}
    host = {"X-Visit-Token": link_for(services, visit_id, world["clinician_a"].user_id)}
    where = client.post("/v1/visit-session/location", json={"state": "NE"}, headers=patient)
    assert where.json()["proceed"] is True, where.text
    given = client.post(
        "/v1/visit-session/consent", headers=host, json={"method": "verbal", "acknowledged": True}
    )
    assert given.status_code == 201, given.text
    bundle = fhir_get(client, world["patient_a"], "Consent", category="telehealth").json()
    found = [e["resource"] for e in bundle["entry"]]
    assert len(found) > 1  # Nebraska's signed-statement rule and the general consent rule
    found.sort(key=lambda r: "signature-due" not in str(r["verification"]))
    return [str(r["id"]) for r in found]


def _monitoring_consent(app: FastAPI, client: TestClient, world: World, clock: FrozenClock) -> str:
    """Patient A, living in Oregon on Medicaid (yearly renewal), enrolled in monitoring on
    verbal consent given now: the enrollment's id, which is its consent's."""
    services = services_of(app)
    license_clinician_a(services, world, "OR")
    with acting(services, world["admin"].user_id) as scope:
        patient = scope.session.get(Patient, world["patient_a"].patient_id)
        assert patient is not None
        patient.home_state = "OR"
    enrolled = client.post(
        f"/v1/monitoring/patients/{world['patient_a'].patient_id}/enrollments",
        json={
            "program": "hypertension",
            "payer": "medicaid",
            "episode_start": clock.now().date().isoformat(),
            "consent": {"given_by": "patient", "method": "verbal", "at": clock.now().isoformat()},
        },
        headers=world["clinician_a"].headers,
    )
    assert enrolled.status_code == 201, enrolled.text
    return str(enrolled.json()["id"])


def _later(world: World, who: str) -> None:
    """A new token for ``who`` once the clock has moved on past the old one's life."""
    person = world[who]
    with scope_for(world.settings, world.clock) as scope:
        user = identity_queries.user_by_id(scope.session, person.user_id)
        assert user is not None
        person.token = identity.issue_token(
            scope, user, label="later", minutes=None, mfa_verified=True
        ).secret


def _read(client: TestClient, world: World, who: str, consent_id: str) -> dict[str, Any]:
    response = fhir_get(client, world[who], f"Consent/{consent_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    valid_r4(body)
    return body


def _ids(client: TestClient, world: World, who: str, **params: str) -> list[str]:
    bundle = fhir_get(client, world[who], "Consent", **params).json()
    valid_r4(bundle)
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def test_verbal_visit_consent_counts_until_its_signature_is_due(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    consent_id = _verbal_visit_consents(app, client, world)[0]
    body = _read(client, world, "patient_a", consent_id)
    assert body["status"] == "active"
    assert body["scope"]["coding"][0]["code"] == "treatment"
    codes = {(c["system"], c["code"]) for c in body["category"][0]["coding"]}
    assert codes == {
        ("http://loinc.org", "59284-0"),
        ("urn:telehealth:consent-category", "telehealth"),
    }
    assert body["patient"]["reference"] == f"Patient/{world['patient_a'].patient_id}"
    assert body["performer"] == [{"reference": f"Patient/{world['patient_a'].patient_id}"}]
    assert body["organization"] == [{"reference": f"Organization/{world.org_id}"}]
    (policy,) = body["policy"]
    terms = {e["url"].rsplit(":", 1)[-1]: e for e in policy["extension"]}
    assert terms["citation"]["valueString"]
    assert terms["consent-form"]["valueCode"] == "written"
    (verification,) = body["verification"]
    assert verification["verified"] is False
    due = verification["extension"][0]
    assert due["url"] == SIGNATURE_DUE
    given = clock.now()
    assert due["valueDateTime"].startswith((given + timedelta(days=10)).date().isoformat())

    clock.advance(timedelta(days=10, minutes=1))
    _later(world, "clinician_a")
    overdue = _read(client, world, "clinician_a", consent_id)
    assert overdue["status"] == "inactive"
    assert {"url": "urn:telehealth:fhir:consent-shortfall", "valueCode": "signature_overdue"} in (
        overdue["extension"]
    )


def test_monitoring_consent_lapses_after_its_renewal_period(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    enrollment_id = _monitoring_consent(app, client, world, clock)
    body = _read(client, world, "coordinator", enrollment_id)
    assert body["status"] == "active"
    assert {c["code"] for c in body["category"][0]["coding"]} == {"59284-0", "remote-monitoring"}
    renewals = {
        e["valueCode"]
        for p in body["policy"]
        for e in p["extension"]
        if e["url"] == "urn:telehealth:fhir:consent-renewal"
    }
    assert "annual" in renewals
    assert all(any(e["url"] == CITATION for e in p["extension"]) for p in body["policy"])
    period = body["provision"]["period"]
    assert period["end"].startswith((clock.now() + timedelta(days=365)).date().isoformat())
    clock.advance(timedelta(days=366))
    _later(world, "coordinator")
    lapsed = _read(client, world, "coordinator", enrollment_id)
    assert lapsed["status"] == "inactive"
    # The record did not change, its standing did: so does the version a client caches by.
    assert lapsed["meta"]["versionId"] != body["meta"]["versionId"]
    assert _ids(client, world, "coordinator", status="inactive") == [enrollment_id]
    assert _ids(client, world, "coordinator", status="active") == []


def test_another_patients_consent_answers_exactly_as_a_missing_one(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    visit_consents = _verbal_visit_consents(app, client, world)
    enrollment_consent = _monitoring_consent(app, client, world, clock)
    for reader in ("patient_b", "other_coordinator", "clinician_x"):
        missing = fhir_get(client, world[reader], f"Consent/{uuid.uuid4()}")
        assert missing.status_code == 404
        assert outcome_code(missing) == "not-found"
        for consent_id in (*visit_consents, enrollment_consent):
            hidden = fhir_get(client, world[reader], f"Consent/{consent_id}")
            assert hidden.status_code == 404, reader
            assert hidden.json() == missing.json(), reader
        assert _ids(client, world, reader) == []
    for reader in ("patient_a", "clinician_a", "coordinator", "admin"):
        assert set(_ids(client, world, reader)) == {*visit_consents, enrollment_consent}, reader


def test_search_by_patient_category_date_and_paging(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    visit_consents = sorted(_verbal_visit_consents(app, client, world))
    clock.advance(timedelta(days=1))
    _later(world, "clinician_a")
    _later(world, "coordinator")
    enrollment_consent = _monitoring_consent(app, client, world, clock)
    patient = f"Patient/{world['patient_a'].patient_id}"
    today = clock.now().date().isoformat()

    def ids(**params: str) -> list[str]:
        return _ids(client, world, "coordinator", **params)

    # Given at the same moment, a visit's consents come in id order.
    assert ids(patient=patient) == [*visit_consents, enrollment_consent]
    assert ids(patient=patient, _sort="-date") == [enrollment_consent, *visit_consents[::-1]]
    assert ids(patient=f"Patient/{world['patient_b'].patient_id}") == []
    assert ids(patient="Patient/not-an-id") == []
    assert ids(category="remote-monitoring") == [enrollment_consent]
    assert ids(category="urn:telehealth:consent-category|telehealth") == visit_consents
    assert ids(category="http://loinc.org|59284-0") == [*visit_consents, enrollment_consent]
    assert ids(category="http://loinc.org|00000-0") == []
    assert ids(date=today) == [enrollment_consent]
    assert ids(date=f"lt{today}") == visit_consents
    assert ids(status="active") == [*visit_consents, enrollment_consent]
    coordinator = world["coordinator"]
    bundle = fhir_get(client, coordinator, "Consent", _count="1").json()
    seen: list[str] = []
    while True:
        valid_r4(bundle)
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            break
        bundle = client.get(following[0], headers=coordinator.headers).json()
    assert seen == [*visit_consents, enrollment_consent]


def test_consent_reads_and_searches_are_audited_with_their_patient(
    app: FastAPI, client: TestClient, world: World
) -> None:
    consent_id = _verbal_visit_consents(app, client, world)[0]
    fhir_get(client, world["coordinator"], f"Consent/{consent_id}")
    with scope_for(world.settings, world.clock) as scope:
        rows = (
            scope.session.execute(
                select(AuditRow).where(
                    AuditRow.object_type == "visit_consent",
                    AuditRow.object_id == consent_id,
                    AuditRow.action == "read",
                )
            )
            .scalars()
            .all()
        )
    seen = {(str((r.detail or {}).get("via")), r.actor_id) for r in rows}
    assert ("list", world["patient_a"].user_id) in seen
    assert ("fhir", world["coordinator"].user_id) in seen
    assert all(r.patient_id == world["patient_a"].patient_id for r in rows)
