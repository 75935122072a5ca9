"""Access-matrix entries for the review routes (merged into tests/access/test_matrix.py).

Object routes build patient A's case in the state the action needs, through the services of
the running app, so every allowed actor really performs the action.
"""

from __future__ import annotations

from tests.access.audience import PATIENT_READERS, SIGNED_IN
from tests.access.audience import Audience as A
from tests.access.matrix import Entry, form, page
from tests.review.support import add_media, build_case, case_body, open_upload
from tests.support import World

# Clinical work on a case: its clinicians.
CLINICAL = A.CARE_TEAM
REPORT_BODY = {
    "findings": "Regular macule",
    "assessment": "Benign",
    "diagnosis_codes": ["D22.5"],
    "recommendation": "self_care",
    "minutes": 10,
}


def _case(stage: str, suffix: str = "", prefix: str = "/v1/cases/"):  # type: ignore[no-untyped-def]
    def target(world: World) -> str:
        return f"{prefix}{build_case(world, stage)}{suffix}"

    return target


def _media(world: World) -> str:
    case_id = build_case(world, "queued")
    return f"/v1/cases/{case_id}/media/{add_media(world, case_id)}"


def _upload(world: World) -> str:
    return f"/v1/uploads/{open_upload(world)}"


ENTRIES: dict[tuple[str, str], Entry] = {
    ("GET", "/v1/questionnaires"): Entry(SIGNED_IN),
    ("GET", "/v1/questionnaires/{questionnaire_id}/{version}"): Entry(
        SIGNED_IN, target=lambda _w: "/v1/questionnaires/dermatology_lesion/2", seen_by=SIGNED_IN
    ),
    # Originating a case for patient A needs a standing relationship (not break-glass), and
    # cases come from patients and clinicians, not from coordinators.
    ("POST", "/v1/cases"): Entry(
        A.PATIENT_SELF | A.CARE_TEAM,
        target=lambda _w: "/v1/cases",
        body=lambda w: case_body(patient_id=str(w["patient_a"].patient_id)),
        roles=A.PATIENTS | A.CLINICIANS,
    ),
    ("GET", "/v1/cases"): Entry(SIGNED_IN),
    ("GET", "/v1/cases/{case_id}"): Entry(PATIENT_READERS, target=_case("queued")),
    ("POST", "/v1/cases/{case_id}/submit"): Entry(
        A.PATIENT_SELF, target=_case("draft", "/submit"), fresh=True
    ),
    ("POST", "/v1/cases/{case_id}/claim"): Entry(
        CLINICAL, target=_case("queued", "/claim"), fresh=True
    ),
    ("POST", "/v1/cases/{case_id}/release"): Entry(
        A.CARE_TEAM, target=_case("claimed", "/release"), fresh=True
    ),
    ("POST", "/v1/cases/{case_id}/questions"): Entry(
        A.CARE_TEAM,
        target=_case("claimed", "/questions"),
        body={"question": "Is it raised?"},
        fresh=True,
    ),
    ("POST", "/v1/cases/{case_id}/answer"): Entry(
        A.PATIENT_SELF,
        target=_case("asked", "/answer"),
        body={"answer": "Yes, slightly"},
        fresh=True,
    ),
    ("PUT", "/v1/cases/{case_id}/report"): Entry(
        A.CARE_TEAM,
        target=_case("claimed", "/report"),
        body=REPORT_BODY,
        fresh=True,
    ),
    ("POST", "/v1/cases/{case_id}/report/sign"): Entry(
        A.CARE_TEAM, target=_case("drafted", "/report/sign"), fresh=True
    ),
    ("POST", "/v1/cases/{case_id}/amendments"): Entry(
        A.CARE_TEAM,
        target=_case("signed", "/amendments"),
        body={**REPORT_BODY, "reason": "Added a diagnosis code"},
        fresh=True,
    ),
    ("GET", "/v1/cases/{case_id}/media/{media_id}"): Entry(PATIENT_READERS, target=_media),
    ("OPTIONS", "/v1/uploads/"): Entry(SIGNED_IN),
    ("POST", "/v1/uploads/"): Entry(
        SIGNED_IN, not_probed="tus headers and a case of the caller's; tests/review"
    ),
    # An upload is the uploader's staging area: nobody else may know it exists.
    ("GET", "/v1/uploads/{upload_id}"): Entry(
        A.PATIENT_SELF, target=_upload, seen_by=A.PATIENT_SELF
    ),
    ("PATCH", "/v1/uploads/{upload_id}"): Entry(
        A.PATIENT_SELF,
        target=_upload,
        seen_by=A.PATIENT_SELF,
        not_probed="needs tus headers and a binary body; tests/review covers the owner's appends",
    ),
    ("DELETE", "/v1/uploads/{upload_id}"): Entry(
        A.PATIENT_SELF, target=_upload, seen_by=A.PATIENT_SELF, fresh=True
    ),
    ("GET", "/review"): page(SIGNED_IN),
    ("GET", "/review/cases/new"): page(SIGNED_IN),
    ("POST", "/review/cases"): page(
        SIGNED_IN,
        not_probed="a patient's own self-referral (the form names no patient, which a "
        "clinician's e-consult needs); tests/review",
    ),
    ("GET", "/review/cases/{case_id}"): page(
        PATIENT_READERS, _case("queued", prefix="/review/cases/")
    ),
    # Every button posts here and runs the same service call as its API route (whose rows
    # cover each action); probed with a question to the submitter, a reviewer's action.
    ("POST", "/review/cases/{case_id}/action"): form(
        A.CARE_TEAM,
        _case("claimed", "/action", "/review/cases/"),
        {"do": "question", "question": "Is it raised?"},
        fresh=True,
    ),
}
