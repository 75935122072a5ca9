"""Visits enforce how consent must be taken where the state's rule says so: a signed form,
verbal consent followed by a signed statement within days, yearly renewal (SQLite and
PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from telehealth.visits import access, booking, consent
from tests.support import World
from tests.visits.support import acting, book, license_clinician_a, link_for, services_of

pytestmark = pytest.mark.db


def _h(token: str) -> dict[str, str]:
    return {"X-Visit-Token": token}


def _visit_in(app: FastAPI, world: World, state: str, payer: str) -> dict[str, Any]:
    """A visit of patient A in ``state`` with clinician A, licensed there for the occasion."""
    services = services_of(app)
    if state != "TX":  # clinician A holds a Texas license already
        license_clinician_a(services, world, state)
    intake = booking.Intake(located_state=state, acuity="routine", purpose="follow_up", payer=payer)
    visit_id = book(services, world, intake=intake)
    patient = link_for(services, visit_id, world["patient_a"].user_id)
    clinician = link_for(services, visit_id, world["clinician_a"].user_id)
    return {"id": visit_id, "patient": patient, "clinician": clinician, "state": state}


def _located(client: TestClient, visit: dict[str, Any]) -> dict[str, Any]:
    where = client.post(
        "/v1/visit-session/location", json={"state": visit["state"]}, headers=_h(visit["patient"])
    )
    assert where.json()["proceed"] is True, where.text
    session: dict[str, Any] = client.get("/v1/visit-session", headers=_h(visit["patient"])).json()
    return session


def _give(client: TestClient, token: str, method: str) -> Any:
    return client.post(
        "/v1/visit-session/consent",
        headers=_h(token),
        json={"method": method, "acknowledged": True},
    )


def _status_at(app: FastAPI, world: World, visit_id: uuid.UUID) -> consent.ConsentStatus:
    with acting(services_of(app), world["clinician_a"].user_id) as scope:
        return consent.consent_status(scope, access.readable_visit(scope, visit_id))


def test_georgia_medicaid_refuses_verbal_consent_and_writes_nothing(
    app: FastAPI, client: TestClient, world: World
) -> None:
    visit = _visit_in(app, world, "GA", "medicaid")
    session = _located(client, visit)
    signed = [r for r in session["consent_outstanding"] if r["form"] == "written"]
    assert signed
    assert not signed[0]["verbal_accepted"]
    assert (
        signed[0]["plain"] == "Your state asks for your signed consent to care by video or phone."
    )
    refused = _give(client, visit["clinician"], "verbal")
    assert refused.status_code == 422
    assert "signed consent" in refused.json()["detail"]
    assert _status_at(app, world, visit["id"]).given == []  # nothing written
    waiting = client.post("/v1/visit-session/waiting", headers=_h(visit["patient"]))
    assert waiting.status_code == 412
    assert "signed consent" in waiting.json()["detail"]
    assert _give(client, visit["patient"], "written").status_code == 201
    after = client.get("/v1/visit-session", headers=_h(visit["patient"])).json()
    assert after["consent_outstanding"] == []


def test_texas_commercial_still_accepts_verbal_consent(
    app: FastAPI, client: TestClient, world: World
) -> None:
    visit = _visit_in(app, world, "TX", "commercial")
    session = _located(client, visit)
    assert session["consent_outstanding"]
    assert all(r["verbal_accepted"] for r in session["consent_outstanding"])
    assert _give(client, visit["clinician"], "verbal").status_code == 201


def test_nebraska_verbal_consent_counts_until_its_signed_statement_is_due(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    visit = _visit_in(app, world, "NE", "commercial")
    _located(client, visit)
    assert _give(client, visit["clinician"], "verbal").status_code == 201
    session = client.get("/v1/visit-session", headers=_h(visit["patient"])).json()
    assert session["consent_outstanding"] == []
    (due,) = {r["signature_due"] for r in session["consent_signature_due"]}
    given = session["consents"][0]["obtained_at"]
    assert due.startswith((clock.now() + timedelta(days=10)).date().isoformat()), (due, given)

    # Ten days on, unsigned: the verbal consent no longer counts and the reason says why.
    clock.advance(timedelta(days=10, minutes=1))
    overdue = _status_at(app, world, visit["id"])
    assert {r["reason"] for r in overdue.outstanding} == {"signature_overdue"}
    assert overdue.signature_due == []


def test_nebraska_a_signature_completes_verbal_consent(
    app: FastAPI, client: TestClient, world: World
) -> None:
    visit = _visit_in(app, world, "NE", "commercial")
    _located(client, visit)
    assert _give(client, visit["clinician"], "verbal").status_code == 201
    # Nothing is outstanding, yet the patient may sign the statement the verbal consent awaits.
    assert _give(client, visit["patient"], "written").status_code == 201
    session = client.get("/v1/visit-session", headers=_h(visit["patient"])).json()
    assert session["consent_signature_due"] == []
    assert {c["method"] for c in session["consents"]} == {"verbal", "written"}
    # A second signature has nothing left to complete.
    assert _give(client, visit["patient"], "written").status_code == 409


def test_oregon_medicaid_consent_lapses_after_a_year(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    visit = _visit_in(app, world, "OR", "medicaid")
    _located(client, visit)
    assert _give(client, visit["patient"], "written").status_code == 201
    assert _status_at(app, world, visit["id"]).outstanding == []
    clock.advance(timedelta(days=366))
    lapsed = _status_at(app, world, visit["id"]).outstanding
    assert {r["reason"] for r in lapsed} == {"lapsed"}
    assert {r["plain"] for r in lapsed} == {
        "Your consent to care by video or phone is more than a year old. Please renew it."
    }


def test_the_visit_page_tells_the_patient_plainly_and_the_clinician_why(
    app: FastAPI, client: TestClient, world: World
) -> None:
    visit = _visit_in(app, world, "GA", "medicaid")
    _located(client, visit)
    mine = client.get(f"/visits/{visit['id']}", headers=world["patient_a"].headers)
    assert mine.status_code == 200
    assert "Your state asks for your signed consent" in mine.text
    assert "consent.terms" not in mine.text
    assert "cchpca" not in mine.text
    theirs = client.get(f"/visits/{visit['id']}", headers=world["clinician_a"].headers)
    assert "only a signed consent counts" in theirs.text
    assert "Georgia Medicaid" in theirs.text
