"""A clinician's licensed discipline: set by the organization's managers through the API and the
admin pages (validated against the vocabulary), shown in words, and carried into the facts of
every encounter the application decides (visits, claimed review cases, enrollments)."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.identity import queries as identity_queries
from telehealth.identity.model import discipline_in_words, parse_discipline
from telehealth.review import service as review
from telehealth.review.tables import ReviewCase
from telehealth.visits import booking
from telehealth.vocabulary import DISCIPLINE_WORDS, DISCIPLINES
from tests.support import World
from tests.visits.support import INTAKE, acting, services_of


def test_every_discipline_has_words() -> None:
    assert set(DISCIPLINE_WORDS) == set(DISCIPLINES)
    assert discipline_in_words("pt") == "Physical therapist"
    assert discipline_in_words(None) is None
    assert parse_discipline(" np ") == "np"
    assert parse_discipline("") is None


def _profile(client: TestClient, world: World, viewer: str = "coordinator") -> dict[str, object]:
    clinician = world["clinician_a"].user_id
    response = client.get(f"/v1/clinicians/{clinician}", headers=world[viewer].headers)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.mark.db
def test_managers_set_and_clear_the_discipline_over_the_api(
    client: TestClient, world: World
) -> None:
    path = f"/v1/clinicians/{world['clinician_a'].user_id}"
    headers = world["coordinator"].headers
    assert _profile(client, world)["discipline"] is None
    response = client.patch(path, json={"discipline": "pt"}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["discipline"] == "pt"
    # A patient of the organization reads the public profile, in plain words.
    public = _profile(client, world, "patient_a")
    assert public["discipline_words"] == "Physical therapist"
    assert "licenses" not in public
    # Leaving it out keeps it; null clears it.
    client.patch(path, json={"video_capable": True}, headers=headers)
    assert _profile(client, world)["discipline"] == "pt"
    client.patch(path, json={"discipline": None}, headers=headers)
    assert _profile(client, world)["discipline"] is None


@pytest.mark.db
def test_an_unknown_discipline_is_refused_naming_the_field(
    client: TestClient, world: World
) -> None:
    path = f"/v1/clinicians/{world['clinician_a'].user_id}"
    response = client.patch(
        path, json={"discipline": "surgeon"}, headers=world["coordinator"].headers
    )
    assert response.status_code == 422
    assert "discipline" in response.text
    assert _profile(client, world)["discipline"] is None
    # Clinicians do not set their own.
    own = client.patch(path, json={"discipline": "np"}, headers=world["clinician_a"].headers)
    assert own.status_code == 403


@pytest.mark.db
def test_a_clinician_is_invited_with_a_discipline(client: TestClient, world: World) -> None:
    headers = world["admin"].headers
    body = {"email": "np@example.test", "display_name": "Nia NP", "role": "clinician"}
    response = client.post("/v1/users", json={**body, "discipline": "np"}, headers=headers)
    assert response.status_code == 201, response.text
    user_id = response.json()["user"]["id"]
    profile = client.get(f"/v1/clinicians/{user_id}", headers=headers).json()
    assert profile["discipline_words"] == "Nurse practitioner"
    staff = {"email": "co@example.test", "display_name": "Co", "role": "coordinator"}
    refused = client.post("/v1/users", json={**staff, "discipline": "np"}, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["field"] == "discipline"
    bad = client.post(
        "/v1/users", json={**body, "email": "x@example.test", "discipline": "x"}, headers=headers
    )
    assert bad.status_code == 422
    assert "discipline" in bad.text


@pytest.mark.db
def test_the_admin_pages_set_and_show_the_discipline(client: TestClient, world: World) -> None:
    clinician = world["clinician_a"].user_id
    headers = world["admin"].headers
    page = f"/admin/clinicians/{clinician}"
    assert (
        'Discipline: <span id="discipline-shown">not recorded'
        in client.get(page, headers=headers).text
    )
    saved = client.post(
        f"{page}/discipline", data={"discipline": "slp"}, headers=headers, follow_redirects=False
    )
    assert saved.status_code == 303
    assert "Speech-language pathologist" in client.get(page, headers=headers).text
    users = client.get("/admin/users", headers=headers).text
    row = users.split(">clinician_a<", 1)[1].split("</tr>", 1)[0]
    assert "Speech-language pathologist" in row
    refused = client.post(f"{page}/discipline", data={"discipline": "wizard"}, headers=headers)
    assert refused.status_code == 422
    assert "(discipline)" in refused.text
    assert "Speech-language pathologist" in client.get(page, headers=headers).text
    invited = client.post(
        "/admin/users",
        data={
            "email": "pt@example.test",
            "display_name": "Pat PT",
            "role": "clinician",
            "discipline": "pt",
        },
        headers=headers,
    )
    assert invited.status_code == 201
    row = invited.text.split(">Pat PT<", 1)[1].split("</tr>", 1)[0]
    assert "Physical therapist" in row


@pytest.mark.db
def test_decision_facts_carry_the_recorded_discipline(app: FastAPI, world: World) -> None:
    services = services_of(app)
    clinician = world["clinician_a"].user_id
    with acting(services, world["coordinator"].user_id) as scope:
        unrecorded = booking.build_facts(
            scope, INTAKE.stored(), clinician_id=clinician, located_state="TX", on=date(2027, 1, 4)
        )
        assert unrecorded["clinician"]["discipline"] is None
        profile = identity_queries.clinician_profile(scope.session, clinician)
        assert profile is not None
        profile.discipline = "np"
    with acting(services, world["coordinator"].user_id) as scope:
        facts = booking.build_facts(
            scope, INTAKE.stored(), clinician_id=clinician, located_state="TX", on=date(2027, 1, 4)
        )
        assert facts["clinician"]["discipline"] == "np"
        case = ReviewCase(
            kind="econsult",
            specialty="dermatology",
            acuity="routine",
            purpose="new_problem",
            location_state="TX",
            payer="medicare",
            setting="home",
            established=True,
            controlled_substance_schedule=None,
        )
        # Before a reviewer claims it, the case is decided for any reviewer of its specialty.
        assert review.case_facts(scope, case, date(2027, 1, 4))["clinician"]["discipline"] is None
        case.reviewer_id = clinician
        assert review.case_facts(scope, case, date(2027, 1, 4))["clinician"]["discipline"] == "np"
