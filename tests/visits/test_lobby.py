"""The waiting room's opening time, what it tells patients and guests (the clinician's name,
whether they are in or late), and the clinician's own room: nobody is admitted before the
clinician has opened it (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from telehealth.config import Settings, VisitSettings
from telehealth.identity.model import age_on
from tests.support import World, without_identifiers
from tests.visits.support import book, link_for, ready_patient, services_of

pytestmark = pytest.mark.db

LEAD = timedelta(minutes=15)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The default lead time (the suite's settings open waiting rooms from booking)."""
    return settings.model_copy(update={"visits": VisitSettings()})


@pytest.fixture
def visit(app: FastAPI, world: World) -> dict[str, Any]:
    services = services_of(app)
    assert services.visits.settings.waiting_room_lead() == LEAD
    visit_id = book(services, world)
    return {
        "patient": link_for(services, visit_id, world["patient_a"].user_id),
        "clinician": link_for(services, visit_id, world["clinician_a"].user_id),
    }


def _h(token: str) -> dict[str, str]:
    return {"X-Visit-Token": token}


def _session(client: TestClient, token: str) -> Any:
    response = client.get("/v1/visit-session", headers=_h(token))
    assert response.status_code == 200, response.text
    return response.json()


def _waiting_at_the_start(client: TestClient, clock: FrozenClock, patient: str) -> str:
    """The patient, through intake, waits at the visit's start: their participant id."""
    ready_patient(client, patient)
    clock.set(datetime.fromisoformat(_session(client, patient)["slot_start"]))
    assert client.post("/v1/visit-session/waiting", headers=_h(patient)).status_code == 200
    return str(_session(client, patient)["participant_id"])


def test_the_waiting_room_opens_at_the_lead_time_and_not_before(
    client: TestClient, clock: FrozenClock, visit: dict[str, Any]
) -> None:
    patient = visit["patient"]
    ready_patient(client, patient)
    start = datetime.fromisoformat(_session(client, patient)["slot_start"])
    clock.set(start - LEAD - timedelta(minutes=1))
    session = _session(client, patient)
    assert datetime.fromisoformat(session["opens_at"]) == start - LEAD
    assert session["waiting_room_open"] is False
    early = client.post("/v1/visit-session/waiting", headers=_h(patient))
    assert early.status_code == 409
    problem = early.json()
    assert problem["detail"] == "The waiting room opens 15 minutes before the visit starts."
    assert datetime.fromisoformat(problem["opens_at"]) == start - LEAD
    assert _session(client, patient)["state"] == "invited"

    clock.set(start - LEAD)
    assert _session(client, patient)["waiting_room_open"] is True
    entered = client.post("/v1/visit-session/waiting", headers=_h(patient))
    assert entered.status_code == 200, entered.text
    assert entered.json()["state"] == "waiting"


def test_the_clinician_may_open_their_room_before_the_waiting_room_opens(
    client: TestClient, clock: FrozenClock, visit: dict[str, Any]
) -> None:
    clinician = visit["clinician"]
    start = datetime.fromisoformat(_session(client, clinician)["slot_start"])
    clock.set(start - timedelta(hours=1))
    opened = client.post("/v1/visit-session/waiting", headers=_h(clinician))
    assert opened.status_code == 200
    assert opened.json()["state"] == "admitted"


def test_the_waiting_room_names_the_clinician_and_says_when_they_are_late(
    client: TestClient, clock: FrozenClock, visit: dict[str, Any]
) -> None:
    patient, clinician = visit["patient"], visit["clinician"]
    session = _session(client, patient)
    assert session["clinician_name"] == "clinician_a"  # the test world's display name
    start = datetime.fromisoformat(session["slot_start"])
    clock.set(start - timedelta(minutes=5))
    session = _session(client, patient)
    assert (session["clinician_present"], session["clinician_late"]) == (False, False)
    clock.set(start + timedelta(minutes=2))
    session = _session(client, patient)
    assert (session["clinician_present"], session["clinician_late"]) == (False, True)
    client.post("/v1/visit-session/waiting", headers=_h(clinician))
    session = _session(client, patient)
    assert (session["clinician_present"], session["clinician_late"]) == (True, False)


def test_nobody_is_admitted_before_the_clinician_opens_their_room(
    client: TestClient, clock: FrozenClock, visit: dict[str, Any]
) -> None:
    patient, clinician = visit["patient"], visit["clinician"]
    me = _waiting_at_the_start(client, clock, patient)
    admit = f"/v1/visit-session/participants/{me}/admit"

    refused = client.post(admit, headers=_h(clinician))
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("Open your room first")
    assert _session(client, patient)["state"] == "waiting"

    assert client.post("/v1/visit-session/waiting", headers=_h(clinician)).status_code == 200
    admitted = client.post(admit, headers=_h(clinician))
    assert admitted.status_code == 200
    assert admitted.json()["state"] == "admitted"


def test_the_waiting_list_shows_the_patients_age_never_their_date_of_birth(
    client: TestClient, clock: FrozenClock, visit: dict[str, Any]
) -> None:
    _waiting_at_the_start(client, clock, visit["patient"])
    response = client.get("/v1/visit-session", headers=_h(visit["clinician"]))
    (row,) = response.json()["waiting_room"]
    # Patient A of the test world was born on 1 January 1970.
    assert row["age"] == age_on(date(1970, 1, 1), clock.now().date())
    assert (row["name"], row["role"], row["state"], row["intake"]["location_state"]) == (
        "CanaryA SecretA",
        "patient",
        "waiting",
        "TX",
    )
    # Who the patient is, as the patient banner says it: sex in words and the record number.
    assert row["sex"] == "Not recorded"
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", row["record_number"])
    assert "1970" not in without_identifiers(response.text)
    assert "birth" not in response.text
