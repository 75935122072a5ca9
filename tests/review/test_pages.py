"""The server-rendered pages: a patient sends a case, a reviewer works the queue."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from telehealth.review.model import Recommendation
from tests.review.support import add_media, add_photos, build_case
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


# --- signed reports: who signed, in plain words for patients --------------------------------

SIGNED = re.compile(
    r"Signed by clinician_a, Dermatology, on <time datetime=\"[^\"]+\" data-show=\"datetime\">"
)


def _report_sections(html: str) -> str:
    return "".join(re.findall(r'<section class="card report".*?</section>', html, flags=re.S))


def test_signed_report_names_its_signer_and_patients_read_it_in_plain_words(
    client: TestClient, world: World
) -> None:
    case_id = build_case(world, "signed")
    amendment = {
        "findings": "Macule, unchanged",
        "assessment": "Benign naevus",
        "diagnosis_codes": ["D22.5"],
        "recommendation": "in_person_referral",
        "reason": "Second look",
    }
    amended = client.post(
        f"/v1/cases/{case_id}/amendments", json=amendment, headers=world["clinician_a"].headers
    )
    assert amended.status_code == 201, amended.text

    staff = _report_sections(
        client.get(f"/review/cases/{case_id}", headers=world["clinician_a"].headers).text
    )
    assert len(SIGNED.findall(staff)) == 2  # the report and its amendment
    assert "<strong>Diagnosis codes:</strong> D22.5" in staff
    assert "<strong>Recommendation:</strong> Self-care" in staff
    assert "<strong>Recommendation:</strong> In-person referral" in staff

    patient = _report_sections(
        client.get(f"/review/cases/{case_id}", headers=world["patient_a"].headers).text
    )
    assert len(SIGNED.findall(patient)) == 2
    assert "You can look after this at home as the specialist describes." in patient
    assert "The specialist recommends that you see a clinician in person." in patient
    # No code the patient cannot read (the code set holds no ICD-10 descriptions), no enum value.
    assert "D22.5" not in patient
    assert "Diagnosis codes" not in patient
    for value in Recommendation:
        assert value.value not in patient
        assert value.value.replace("_", " ") not in patient

    reports = client.get(f"/v1/cases/{case_id}", headers=world["patient_a"].headers).json()[
        "reports"
    ]
    signer = {"id": str(world["clinician_a"].user_id), "name": "clinician_a"}
    assert [r["signed_by"] for r in reports] == [signer, signer]
    assert [r["author_id"] for r in reports] == [signer["id"], signer["id"]]


def test_a_draft_report_names_no_signer(client: TestClient, world: World) -> None:
    case_id = build_case(world, "drafted")
    reports = client.get(f"/v1/cases/{case_id}", headers=world["clinician_a"].headers).json()[
        "reports"
    ]
    assert [(r["signed_at"], r["signed_by"]) for r in reports] == [(None, None)]
    page = client.get(f"/review/cases/{case_id}", headers=world["clinician_a"].headers).text
    assert "Signed by" not in page


# --- case media: photos inline for the viewer, other files download ---------------------------


def test_photos_answer_inline_for_the_viewer_and_other_files_download(
    client: TestClient, world: World
) -> None:
    case_id = build_case(world, "draft")
    first, second = add_photos(world, case_id, 2)
    document = add_media(world, case_id)
    headers = world["patient_a"].headers

    photo = client.get(f"/v1/cases/{case_id}/media/{first}", headers=headers)
    assert photo.status_code == 200
    assert photo.headers["content-type"] == "image/png"
    assert photo.headers["content-disposition"] == 'inline; filename="photo-1.png"'
    assert photo.content.startswith(b"\x89PNG")
    pdf = client.get(f"/v1/cases/{case_id}/media/{document}", headers=headers)
    assert pdf.headers["content-disposition"] == 'attachment; filename="lab.pdf"'
    for response in (photo, pdf):
        assert response.headers["x-content-type-options"] == "nosniff"
        # A file opened on its own runs nothing: no source allowed but the image, sandboxed.
        policy = response.headers["content-security-policy"].split("; ")
        assert policy[0] == "default-src 'none'"
        assert "sandbox" in policy
        assert not any("script-src" in directive for directive in policy)
        assert response.headers["cache-control"] == "no-store"
    # Another patient's case media answers exactly as a missing file.
    hidden = client.get(f"/v1/cases/{case_id}/media/{first}", headers=world["patient_b"].headers)
    assert hidden.status_code == 404

    # Thumbnails are the same audited media route, numbered in the case's order of files.
    page = client.get(f"/review/cases/{case_id}", headers=headers).text
    assert f'<img src="/v1/cases/{case_id}/media/{second}" alt="Photo 2 sent with the case"' in page
    assert 'data-viewer-photo="2" aria-label="Open photo 2 of 2 in the viewer"' in page
    assert '<dialog id="viewer"' in page
    assert '>photo-2.png</a> <span class="muted">photo, ' in page
    assert '<script src="/static/review/viewer.js" defer></script>' in page
    assert "<script>" not in page
    assert client.get("/static/review/viewer.js").status_code == 200


def test_a_case_without_photos_has_no_viewer(client: TestClient, world: World) -> None:
    case_id = build_case(world, "draft")
    add_media(world, case_id)
    page = client.get(f"/review/cases/{case_id}", headers=world["patient_a"].headers).text
    assert "viewer" not in page
    assert ' download>lab.pdf</a> <span class="muted">document, ' in page


def test_case_lists_name_the_patient_for_staff_once_claimed_and_never_show_ids_to_patients(
    client: TestClient, world: World
) -> None:
    queued = str(build_case(world, "queued"))
    claimed = str(build_case(world, "claimed"))

    clinician = client.get("/review", headers=world["clinician_a"].headers).text
    held = clinician.split("Cases you hold", 1)[1]
    queue = clinician.split("Cases you hold", 1)[0]
    named = f'<a href="/review/cases/{claimed}">CanaryA SecretA</a> <span class="muted">'
    assert re.search(re.escape(named) + r"[0-9A-Z]{4}-[0-9A-Z]{4}</span>", held)
    assert f'<a href="/review/cases/{queued}">Case {queued[:8]}</a>' in queue  # unclaimed
    assert "CanaryA" not in queue
    assert "Queue: Dermatology" in clinician
    dashboard = client.get("/", headers=world["clinician_a"].headers).text
    assert f'<a href="/review/cases/{claimed}">CanaryA SecretA</a>' in dashboard

    patient = client.get("/review", headers=world["patient_a"].headers).text
    assert "Your cases" in patient
    assert f'<a href="/review/cases/{queued}">Started <time' in patient
    assert ">Case " not in patient  # ids stay in links, never in the words
    assert ">Case " not in client.get("/", headers=world["patient_a"].headers).text
