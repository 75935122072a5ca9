"""The server-rendered pages: a patient sends a case, a reviewer works the queue."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.support import World

pytestmark = pytest.mark.db

FORM = {
    "specialty": "dermatology",
    "questionnaire_id": "dermatology_lesion",
    "questionnaire_version": "2",
    "reason": "Spot on my arm",
    "location_state": "TX",
    "payer": "commercial",
    "urgency": "routine",
    "q_body_site": "arm",
    "q_duration": "1_to_4_weeks",
    "q_changed": "yes",
    "q_symptoms": ["itch", "pain"],
    "q_lesion_count": "2",
}


def _act(client: TestClient, world: World, person: str, case_id: str, **fields: str) -> int:
    response = client.post(
        f"/review/cases/{case_id}/action",
        data=fields,
        headers=world[person].headers,
        follow_redirects=False,
    )
    return response.status_code


def test_patient_sends_a_case_and_reviewer_reports_through_pages(
    client: TestClient, world: World
) -> None:
    patient = world["patient_a"].headers
    home = client.get("/review", headers=patient)
    assert home.status_code == 200
    assert "Send a new case" in home.text
    new = client.get("/review/cases/new", params={"specialty": "dermatology"}, headers=patient)
    assert 'name="q_body_site"' in new.text
    assert 'name="q_lesion_count"' in new.text
    created = client.post("/review/cases", data=FORM, headers=patient, follow_redirects=False)
    assert created.status_code == 303
    case_id = created.headers["location"].rsplit("/", 1)[-1]
    page = client.get(f"/review/cases/{case_id}", headers=patient)
    assert f'data-case-id="{case_id}"' in page.text
    assert '<script src="/static/review/upload.js"' in page.text
    assert "<script>" not in page.text  # the CSP allows no inline scripts
    assert _act(client, world, "patient_a", case_id, do="submit") == 303

    clinician = world["clinician_a"].headers
    queue = client.get("/review", headers=clinician)
    assert f"/review/cases/{case_id}" in queue.text
    assert re.search(r"<time datetime=\"[^\"]+\" data-show=\"datetime\">", queue.text)
    assert _act(client, world, "clinician_a", case_id, do="claim") == 303
    assert (
        _act(
            client,
            world,
            "clinician_a",
            case_id,
            do="report",
            findings="Macule",
            assessment="Benign",
            recommendation="self_care",
            diagnosis_codes="D22.5",
        )
        == 303
    )
    assert "Specialist report" not in client.get(f"/review/cases/{case_id}", headers=patient).text
    assert _act(client, world, "clinician_a", case_id, do="sign") == 303
    final = client.get(f"/review/cases/{case_id}", headers=patient)
    assert "Specialist report" in final.text
    assert "Benign" in final.text


def test_patient_reads_why_a_case_must_be_live_without_rules_or_sources(
    client: TestClient, world: World
) -> None:
    # Patient B has no care team: a new relationship may not be formed asynchronously in AR.
    patient = world["patient_b"].headers
    created = client.post(
        "/review/cases",
        data={**FORM, "location_state": "AR"},
        headers=patient,
        follow_redirects=False,
    )
    case_id = created.headers["location"].rsplit("/", 1)[-1]
    assert _act(client, world, "patient_b", case_id, do="submit") == 303
    page = client.get(f"/review/cases/{case_id}", headers=patient).text
    assert "Our team will contact you to arrange it." in page
    assert 'class="muted">(' not in page  # no rule citations
    assert "(version 2)" not in page
    staff = client.get(f"/review/cases/{case_id}", headers=world["coordinator"].headers).text
    assert 'class="muted">(' in staff
    assert "(version 2)" in staff


def test_page_errors_are_shown_not_stored(client: TestClient, world: World) -> None:
    patient = world["patient_a"].headers
    wrong = {**FORM, "q_body_site": "elbow"}
    response = client.post("/review/cases", data=wrong, headers=patient, follow_redirects=False)
    assert response.status_code == 422
    assert "answers.body_site" in response.text
    assert client.get("/v1/cases", headers=patient).json()["items"] == []
    created = client.post("/review/cases", data=FORM, headers=patient, follow_redirects=False)
    case_id = created.headers["location"].rsplit("/", 1)[-1]
    # Signing is a reviewer's work: refused to the patient whatever the case's state, and a
    # conflict for a clinician of the case while it is not under review.
    assert _act(client, world, "patient_a", case_id, do="sign") == 403
    assert _act(client, world, "clinician_a", case_id, do="sign") == 409
    assert _act(client, world, "patient_b", case_id, do="submit") == 404
    assert (
        client.get(f"/review/cases/{case_id}", headers=world["clinician_x"].headers).status_code
        == 404
    )


def test_upload_client_is_served_as_a_static_file(client: TestClient) -> None:
    script = client.get("/static/review/upload.js")
    assert script.status_code == 200
    assert "Tus-Resumable" in script.text
