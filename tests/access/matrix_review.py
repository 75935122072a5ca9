"""Access-matrix entries for the review routes (merged into tests/access/test_matrix.py).

Object routes build patient A's case in the state the action needs, through the services of
the running app, so every allowed actor really performs the action.
"""

from __future__ import annotations

from tests.access.matrix import Entry
from tests.review.support import add_media, build_case, open_upload
from tests.support import World

REPORT_BODY = {
    "findings": "Regular macule",
    "assessment": "Benign",
    "diagnosis_codes": ["D22.5"],
    "recommendation": "self_care",
    "minutes": 10,
}
READERS = ("patient_a", "clinician_a", "coordinator", "admin")


def _case(stage: str, suffix: str = ""):  # type: ignore[no-untyped-def]
    def target(world: World) -> str:
        return f"/v1/cases/{build_case(world, stage)}{suffix}"

    return target


def _media(world: World) -> str:
    case_id = build_case(world, "queued")
    return f"/v1/cases/{case_id}/media/{add_media(world, case_id)}"


def _upload(world: World) -> str:
    return f"/v1/uploads/{open_upload(world)}"


ENTRIES: dict[tuple[str, str], Entry] = {
    ("GET", "/v1/questionnaires"): Entry("self"),
    ("GET", "/v1/questionnaires/{questionnaire_id}/{version}"): Entry("self"),
    ("POST", "/v1/cases"): Entry("self"),
    ("GET", "/v1/cases"): Entry("self"),
    ("GET", "/v1/cases/{case_id}"): Entry(
        "patient_object", target=_case("queued"), allowed=READERS
    ),
    ("POST", "/v1/cases/{case_id}/submit"): Entry(
        "patient_object", target=_case("draft", "/submit"), allowed=("patient_a",)
    ),
    ("POST", "/v1/cases/{case_id}/claim"): Entry(
        "patient_object", target=_case("queued", "/claim"), allowed=("clinician_a",)
    ),
    ("POST", "/v1/cases/{case_id}/release"): Entry(
        "patient_object", target=_case("claimed", "/release"), allowed=("clinician_a",)
    ),
    ("POST", "/v1/cases/{case_id}/questions"): Entry(
        "patient_object",
        target=_case("claimed", "/questions"),
        body={"question": "Is it raised?"},
        allowed=("clinician_a",),
    ),
    ("POST", "/v1/cases/{case_id}/answer"): Entry(
        "patient_object",
        target=_case("asked", "/answer"),
        body={"answer": "Yes, slightly"},
        allowed=("patient_a",),
    ),
    ("PUT", "/v1/cases/{case_id}/report"): Entry(
        "patient_object",
        target=_case("claimed", "/report"),
        body=REPORT_BODY,
        allowed=("clinician_a",),
    ),
    ("POST", "/v1/cases/{case_id}/report/sign"): Entry(
        "patient_object", target=_case("drafted", "/report/sign"), allowed=("clinician_a",)
    ),
    ("POST", "/v1/cases/{case_id}/amendments"): Entry(
        "patient_object",
        target=_case("signed", "/amendments"),
        body={**REPORT_BODY, "reason": "Added a diagnosis code"},
        allowed=("clinician_a",),
    ),
    ("GET", "/v1/cases/{case_id}/media/{media_id}"): Entry(
        "patient_object", target=_media, allowed=READERS
    ),
    ("OPTIONS", "/v1/uploads/"): Entry("self"),
    ("POST", "/v1/uploads/"): Entry("self"),
    ("GET", "/v1/uploads/{upload_id}"): Entry(
        "patient_object", target=_upload, allowed=("patient_a",)
    ),
    # A PATCH needs tus headers and a binary body, which the matrix does not send: only the
    # refusals are checked here; tests/review covers the owner's appends.
    ("PATCH", "/v1/uploads/{upload_id}"): Entry("patient_object", target=_upload),
    ("DELETE", "/v1/uploads/{upload_id}"): Entry(
        "patient_object", target=_upload, allowed=("patient_a",)
    ),
    ("GET", "/review"): Entry("page"),
    ("GET", "/review/cases/new"): Entry("page"),
    ("POST", "/review/cases"): Entry("page"),
    ("GET", "/review/cases/{case_id}"): Entry("page"),
    ("POST", "/review/cases/{case_id}/action"): Entry("page"),
}
