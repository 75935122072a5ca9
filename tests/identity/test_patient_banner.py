"""Who the patient is, everywhere staff work on them: sex on registration and in the API with
the record number, and the patient banner (name, age and date of birth, sex in words, home
state, record number) on the case, visit, side-panel and monitoring pages. Another
organization's staff and other patients reach none of it; patients don't get the banner on
their own pages."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from telehealth.identity.model import AdministrativeSex, PatientBanner, age_on, sex_in_words
from tests.monitoring.helpers import enroll
from tests.review.support import build_case
from tests.support import World, post_form
from tests.visits.support import book, services_of

pytestmark = pytest.mark.db

BORN = date(1970, 1, 1)  # patient A of the test world
RECORD_NUMBER = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def _patient(client: TestClient, world: World, key: str = "coordinator") -> dict[str, Any]:
    response = client.get(
        f"/v1/patients/{world['patient_a'].patient_id}", headers=world[key].headers
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def _record_sex(client: TestClient, world: World, sex: str | None) -> dict[str, Any]:
    current = _patient(client, world)
    response = client.patch(
        f"/v1/patients/{world['patient_a'].patient_id}",
        json={"sex": sex, "version": current["version"]},
        headers=world["coordinator"].headers,
    )
    assert response.status_code == 200, response.text
    changed: dict[str, Any] = response.json()
    return changed


def _page(client: TestClient, world: World, key: str, path: str) -> tuple[int, str]:
    response = client.get(path, headers=world[key].headers, follow_redirects=False)
    return response.status_code, response.text


def _assert_banner(html: str, record_number: str, clock: FrozenClock) -> None:
    [banner] = re.findall(r'<section class="patient-banner".*?</section>', html, re.S)
    text = " ".join(re.sub(r"<[^>]+>", " ", banner).split())
    age = age_on(BORN, clock.now().date())
    assert "CanaryA SecretA" in text
    assert f"Age {age} years" in text
    assert "Born 01 Jan 1970" in text
    assert "Sex Female" in text
    assert "Home state TX" in text
    assert f"Record number {record_number}" in text


def _only_staff_see_the_banner(
    client: TestClient, world: World, clock: FrozenClock, path: str, number: str
) -> None:
    """Patient A's care team and coordinator see the banner on ``path``; patient A reads the
    page without one; another patient and another organization's staff get 404, naming no one."""
    for key in ("clinician_a", "coordinator"):
        status, html = _page(client, world, key, path)
        assert status == 200, (key, path)
        _assert_banner(html, number, clock)
    if not path.startswith("/portal/"):  # the side panel is for the care team only
        status, html = _page(client, world, "patient_a", path)
        assert status == 200, path
        assert "patient-banner" not in html
    for key in ("patient_b", "other_coordinator", "other_admin"):
        status, html = _page(client, world, key, path)
        assert status == 404, (key, path)
        assert "CanaryA" not in html
        assert number not in html


# --- the pure view -------------------------------------------------------------------------------


class _Row:
    given_name = "Dana"
    family_name = "Rivera"
    birth_date = date(1990, 6, 15)
    home_state = "NY"
    sex: str | None = None
    record_number = "7KQ2-M9XD"


def test_the_banner_counts_whole_years_on_the_day_given_and_says_sex_in_words() -> None:
    row = _Row()
    before = PatientBanner.of(row, date(2026, 6, 14))
    on_birthday = PatientBanner.of(row, date(2026, 6, 15))
    assert (before.age, on_birthday.age) == (35, 36)
    assert before.name == "Dana Rivera"
    assert before.sex == "Not recorded"
    assert [sex_in_words(s.value) for s in AdministrativeSex] == [
        "Female",
        "Male",
        "Other",
        "Unknown",
    ]


# --- registration and the API --------------------------------------------------------------------


def test_the_api_registers_and_edits_sex_and_shows_the_record_number(
    client: TestClient, world: World
) -> None:
    new = {"given_name": "Dana", "family_name": "Rivera", "birth_date": "1990-06-15"}
    new["home_state"] = "NY"
    made = client.post(
        "/v1/patients", json={**new, "sex": "female"}, headers=world["coordinator"].headers
    )
    assert made.status_code == 201, made.text
    assert made.json()["sex"] == "female"
    assert RECORD_NUMBER.match(made.json()["record_number"])

    before = _patient(client, world)
    assert before["sex"] is None
    assert RECORD_NUMBER.match(before["record_number"])
    assert before["record_number"] != made.json()["record_number"]
    assert _record_sex(client, world, "other")["sex"] == "other"
    cleared = _record_sex(client, world, None)
    assert cleared["sex"] is None
    # Edits never change the number staff quote.
    assert cleared["record_number"] == before["record_number"]

    refused = client.post(
        "/v1/patients", json={**new, "sex": "F"}, headers=world["coordinator"].headers
    )
    assert refused.status_code == 422
    # The bearer token fast read answers the same fields.
    assert _patient(client, world, "clinician_a") == cleared


def test_the_patient_form_records_sex_and_a_refused_form_keeps_what_was_typed(
    client: TestClient, world: World
) -> None:
    values = {
        "given_name": "Pat",
        "family_name": "Newcomer",
        "birth_date": "1980-02-03",
        "home_state": "NY",
        "email": "pat@example.test",
        "sex": "male",
    }
    status, html = _page(client, world, "coordinator", "/admin/users")
    assert status == 200
    assert '<option value="unknown">Unknown</option>' in html
    status, html = post_form(
        client, world, "coordinator", "/admin/patients", {**values, "sex": "M"}
    )
    assert status == 422
    assert "choose the patient&#39;s sex" in html
    assert 'value="Newcomer"' in html
    assert 'value="1980-02-03"' in html
    assert 'value="pat@example.test"' in html
    status, html = post_form(client, world, "coordinator", "/admin/patients", values)
    assert status == 201, html
    listed = client.get("/v1/patients?limit=50", headers=world["coordinator"].headers).json()
    [pat] = [p for p in listed if p["family_name"] == "Newcomer"]
    assert pat["sex"] == "male"


# --- the banner on each page ---------------------------------------------------------------------


def test_the_review_case_page_shows_staff_who_the_patient_is(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    number = _record_sex(client, world, "female")["record_number"]
    case_id = build_case(world, "claimed")
    _only_staff_see_the_banner(client, world, clock, f"/review/cases/{case_id}", number)


def test_the_visit_record_and_the_side_panel_show_who_the_patient_is(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    number = _record_sex(client, world, "female")["record_number"]
    visit_id = book(services_of(app), world)
    for path in (f"/visits/{visit_id}", f"/portal/visits/{visit_id}/context?fragment=1"):
        _only_staff_see_the_banner(client, world, clock, path, number)


def test_the_monitoring_pages_show_who_the_patient_is(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    number = _record_sex(client, world, "female")["record_number"]
    enrollment = enroll(client, world)
    path = f"/monitoring/enrollments/{enrollment['id']}"
    _only_staff_see_the_banner(client, world, clock, path, number)

    age = age_on(BORN, clock.now().date())
    status, html = _page(client, world, "clinician_a", "/monitoring")
    assert status == 200
    assert "SecretA, CanaryA" in html
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert f"{age} years · Female · {number}" in text
    status, html = _page(client, world, "other_coordinator", "/monitoring")
    assert status == 200
    assert number not in html
