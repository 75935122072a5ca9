"""Cases end to end over HTTP: create, route, claim, ask, report, sign, amend, bill, escalate."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.jobs import registered, run_job
from telehealth.notifications.tables import Notification
from telehealth.review.tables import ReviewCase
from tests.review.support import case_body
from tests.support import World, scope_for

pytestmark = pytest.mark.db

REPORT = {
    "findings": "Regular pigmented macule",
    "assessment": "Benign naevus",
    "diagnosis_codes": ["D22.5"],
    "recommendation": "self_care",
    "minutes": 12,
}


def _post(
    client: TestClient, person: str, world: World, path: str, body: dict[str, Any] | None = None
) -> Any:
    return client.post(path, json=body, headers=world[person].headers)


def _new(client: TestClient, world: World, person: str = "patient_a", **overrides: Any) -> str:
    response = _post(client, person, world, "/v1/cases", case_body(**overrides))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _submitted(
    client: TestClient, world: World, person: str = "patient_a", **overrides: Any
) -> dict[str, Any]:
    case_id = _new(client, world, person, **overrides)
    response = _post(client, person, world, f"/v1/cases/{case_id}/submit")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _count_cases(settings: Settings, clock: FrozenClock) -> int:
    with scope_for(settings, clock) as scope:
        return int(scope.session.execute(select(func.count()).select_from(ReviewCase)).scalar_one())


def test_patient_submits_and_case_is_queued_with_a_due_time(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    case = _submitted(client, world)
    assert case["status"] == "queued"
    assert case["decision_id"] is not None
    assert case["due_at"] is not None
    due = case["due_at"].replace("Z", "+00:00")
    assert due.startswith((clock.now() + timedelta(hours=48)).isoformat()[:16])
    urgent = _submitted(client, world, urgency="urgent")
    assert urgent["due_at"].startswith((clock.now() + timedelta(hours=4)).isoformat()[:16])


@pytest.mark.parametrize(
    ("person", "overrides"),
    [
        ("patient_a", {"acuity": "urgent"}),
        ("patient_a", {"controlled_substance": "II"}),
        # Patient B has no care team: a new relationship may not be formed asynchronously in AR.
        ("patient_b", {"location_state": "AR"}),
    ],
)
def test_cases_that_must_be_live_become_live_visit_requests(
    client: TestClient, world: World, person: str, overrides: dict[str, Any]
) -> None:
    case = _submitted(client, world, person, **overrides)
    assert case["status"] == "needs_live_visit"
    assert case["due_at"] is None
    assert case["live_visit_reasons"], "the submitter must see why"
    assert all(r["message"] and r["citation"] for r in case["live_visit_reasons"])
    # It is never silently queued.
    queue = client.get(
        "/v1/cases", params={"queue": "dermatology"}, headers=world["clinician_a"].headers
    ).json()
    assert case["id"] not in [item["id"] for item in queue["items"]]
    live = client.get(
        "/v1/cases", params={"queue": "live_visit"}, headers=world["coordinator"].headers
    ).json()
    assert case["id"] in [item["id"] for item in live["items"]]


def test_bad_case_input_stores_nothing(
    client: TestClient, world: World, settings: Settings, clock: FrozenClock
) -> None:
    wrong_version = case_body(questionnaire={"id": "dermatology_lesion", "version": 1})
    response = _post(client, "patient_a", world, "/v1/cases", wrong_version)
    assert response.status_code == 422
    assert response.json()["field"] == "answers.lesion_count"
    wrong_form = case_body(specialty="radiology")
    assert _post(client, "patient_a", world, "/v1/cases", wrong_form).status_code == 422
    unknown = case_body(questionnaire={"id": "dermatology_lesion", "version": 7})
    assert _post(client, "patient_a", world, "/v1/cases", unknown).status_code == 422
    extra = {**case_body(), "status": "reported"}
    assert _post(client, "patient_a", world, "/v1/cases", extra).status_code == 422
    assert _count_cases(settings, clock) == 0


def test_patients_submit_only_for_themselves_and_staff_roles_cannot_submit(
    client: TestClient, world: World
) -> None:
    other = case_body(patient_id=str(world["patient_b"].patient_id))
    assert _post(client, "patient_a", world, "/v1/cases", other).status_code == 404
    assert _post(client, "coordinator", world, "/v1/cases", case_body()).status_code == 403
    # A clinician may refer only a patient in their care.
    referral = case_body(patient_id=str(world["patient_b"].patient_id))
    assert _post(client, "clinician_a", world, "/v1/cases", referral).status_code == 404


def test_only_eligible_clinicians_claim_and_one_at_a_time(
    client: TestClient, reviewers: World, clock: FrozenClock
) -> None:
    world = reviewers
    case_id = _submitted(client, world)["id"]
    claim = f"/v1/cases/{case_id}/claim"
    # No specialty or no license in the patient's state: the case does not exist for them.
    for outsider in ("clinician_x", "derm_ny", "radiologist_tx"):
        assert _post(client, outsider, world, claim).status_code == 404, outsider
    # An eligible dermatologist licensed in TX sees it in the queue and claims it.
    queue = client.get(
        "/v1/cases", params={"queue": "dermatology"}, headers=world["derm_tx"].headers
    ).json()
    assert [item["id"] for item in queue["items"]] == [case_id]
    assert queue["items"][0]["due_at"] is not None
    assert "reason" not in queue["items"][0]
    claimed = _post(client, "derm_tx", world, claim)
    assert claimed.status_code == 200
    assert claimed.json()["reviewer_id"] == str(world["derm_tx"].user_id)
    # One reviewer at a time.
    assert _post(client, "clinician_a", world, claim).status_code == 409
    assert (
        client.get(
            "/v1/cases", params={"queue": "dermatology"}, headers=world["clinician_a"].headers
        ).json()["items"]
        == []
    )
    # The claim lapses; another eligible clinician may then claim.
    clock.advance(timedelta(minutes=121))
    assert _post(client, "clinician_a", world, claim).status_code == 200
    # The lapsed reviewer can no longer act.
    late = client.put(f"/v1/cases/{case_id}/report", json=REPORT, headers=world["derm_tx"].headers)
    assert late.status_code in (404, 409)


def test_queue_is_for_the_specialty_and_pages_by_due_time(
    client: TestClient, reviewers: World, clock: FrozenClock
) -> None:
    world = reviewers
    ids = []
    for _ in range(3):
        ids.append(_submitted(client, world)["id"])
        clock.advance(timedelta(minutes=1))
    headers = world["derm_tx"].headers
    first = client.get(
        "/v1/cases", params={"queue": "dermatology", "limit": 2}, headers=headers
    ).json()
    assert [i["id"] for i in first["items"]] == ids[:2]
    second = client.get(
        "/v1/cases",
        params={"queue": "dermatology", "limit": 2, "cursor": first["next_cursor"]},
        headers=headers,
    ).json()
    assert [i["id"] for i in second["items"]] == ids[2:]
    assert (
        client.get("/v1/cases", params={"queue": "radiology"}, headers=headers).status_code == 403
    )
    assert (
        client.get(
            "/v1/cases", params={"queue": "dermatology"}, headers=world["patient_a"].headers
        ).status_code
        == 403
    )
    assert (
        client.get(
            "/v1/cases", params={"queue": "dermatology", "cursor": "!!"}, headers=headers
        ).status_code
        == 422
    )


def test_question_returns_the_case_to_the_same_reviewer(
    client: TestClient, reviewers: World
) -> None:
    world = reviewers
    case_id = _submitted(client, world)["id"]
    assert _post(client, "derm_tx", world, f"/v1/cases/{case_id}/claim").status_code == 200
    asked = _post(
        client,
        "derm_tx",
        world,
        f"/v1/cases/{case_id}/questions",
        {"question": "Is it raised or flat?"},
    )
    assert asked.status_code == 201
    assert asked.json()["status"] == "awaiting_info"
    # Nobody else can pick it up meanwhile, and the reviewer cannot report yet.
    assert _post(client, "clinician_a", world, f"/v1/cases/{case_id}/claim").status_code == 409
    # Only the submitter answers.
    assert (
        _post(
            client, "clinician_a", world, f"/v1/cases/{case_id}/answer", {"answer": "x"}
        ).status_code
        == 403
    )
    seen = client.get(f"/v1/cases/{case_id}", headers=world["patient_a"].headers).json()
    assert seen["info_requests"][0]["question"] == "Is it raised or flat?"
    answered = _post(
        client, "patient_a", world, f"/v1/cases/{case_id}/answer", {"answer": "Slightly raised"}
    )
    assert answered.status_code == 200
    body = answered.json()
    assert body["status"] == "claimed"
    assert body["reviewer_id"] == str(world["derm_tx"].user_id)
    assert body["info_requests"][0]["answer"] == "Slightly raised"
    again = _post(client, "patient_a", world, f"/v1/cases/{case_id}/answer", {"answer": "y"})
    assert again.status_code == 409


def _notes(settings: Settings, clock: FrozenClock, user_id: object) -> list[Notification]:
    with scope_for(settings, clock) as scope:
        return list(
            scope.session.execute(
                select(Notification).where(Notification.user_id == user_id)
            ).scalars()
        )


def test_report_is_released_only_after_signature_and_amendments_append(
    client: TestClient, world: World, settings: Settings, clock: FrozenClock
) -> None:
    case_id = _submitted(client, world)["id"]
    assert _post(client, "clinician_a", world, f"/v1/cases/{case_id}/claim").status_code == 200
    assert (
        _post(client, "clinician_a", world, f"/v1/cases/{case_id}/report/sign").status_code == 409
    )  # nothing written yet
    draft = client.put(
        f"/v1/cases/{case_id}/report", json=REPORT, headers=world["clinician_a"].headers
    )
    assert draft.status_code == 200
    assert draft.json()["reports"][0]["signed_at"] is None
    patient_view = client.get(f"/v1/cases/{case_id}", headers=world["patient_a"].headers).json()
    assert patient_view["reports"] == []
    assert patient_view["billing"] == []
    bad_code = client.put(
        f"/v1/cases/{case_id}/report",
        json={**REPORT, "diagnosis_codes": ["99213"]},
        headers=world["clinician_a"].headers,
    )
    assert bad_code.status_code == 422

    signed = _post(client, "clinician_a", world, f"/v1/cases/{case_id}/report/sign")
    assert signed.status_code == 200
    assert signed.json()["status"] == "reported"
    patient_view = client.get(f"/v1/cases/{case_id}", headers=world["patient_a"].headers).json()
    assert [r["findings"] for r in patient_view["reports"]] == ["Regular pigmented macule"]
    assert patient_view["reports"][0]["recommendation"] == "self_care"
    kinds = [n.kind for n in _notes(settings, clock, world["patient_a"].user_id)]
    assert "review_report" in kinds
    # A signed report never changes; it can only be amended, by its signer.
    rewrite = client.put(
        f"/v1/cases/{case_id}/report", json=REPORT, headers=world["clinician_a"].headers
    )
    assert rewrite.status_code == 409
    amendment = {
        **REPORT,
        "assessment": "Benign naevus; recheck in 6 months",
        "reason": "Follow-up interval added",
    }
    amended = _post(client, "clinician_a", world, f"/v1/cases/{case_id}/amendments", amendment)
    assert amended.status_code == 201
    reports = client.get(f"/v1/cases/{case_id}", headers=world["patient_a"].headers).json()[
        "reports"
    ]
    assert [(r["seq"], r["kind"], r["assessment"]) for r in reports] == [
        (1, "report", "Benign naevus"),
        (2, "amendment", "Benign naevus; recheck in 6 months"),
    ]
    assert reports[1]["amendment_reason"] == "Follow-up interval added"
    assert "review_amendment" in [
        n.kind for n in _notes(settings, clock, world["patient_a"].user_id)
    ]


def test_signed_self_referral_is_billed_as_image_review(
    app: FastAPI, client: TestClient, world: World
) -> None:
    from tests.review.support import add_media

    case_id = _new(client, world)
    add_media(world, uuid.UUID(case_id))
    # A photo makes this a remote evaluation of recorded images.
    services = app.state.services
    with services.sessions() as session:
        from telehealth.review.tables import ReviewMedia

        session.query(ReviewMedia).update({"kind": "image"})
        session.commit()
    _post(client, "patient_a", world, f"/v1/cases/{case_id}/submit")
    _post(client, "clinician_a", world, f"/v1/cases/{case_id}/claim")
    client.put(f"/v1/cases/{case_id}/report", json=REPORT, headers=world["clinician_a"].headers)
    _post(client, "clinician_a", world, f"/v1/cases/{case_id}/report/sign")
    billing = client.get(f"/v1/cases/{case_id}", headers=world["coordinator"].headers).json()[
        "billing"
    ]
    assert [(b["role"], [line["code"] for line in b["lines"]]) for b in billing] == [
        ("reviewer", ["G2010"])
    ]
    assert billing[0]["encounter"]["source"] == {"kind": "review", "id": case_id}
    assert billing[0]["encounter"]["modality"] == "async_store_and_forward"


@pytest.mark.parametrize(
    ("minutes", "verbal", "consultant"),
    [
        (8, False, "99451"),
        (15, True, "99447"),
        (40, True, "99449"),
    ],
)
def test_econsult_bills_consultant_and_requester(
    client: TestClient, reviewers: World, minutes: int, verbal: bool, consultant: str
) -> None:
    world = reviewers
    body = case_body(patient_id=str(world["patient_a"].patient_id), requester_minutes=20)
    created = _post(client, "clinician_a", world, "/v1/cases", body)
    assert created.status_code == 201
    assert created.json()["kind"] == "econsult"
    case_id = created.json()["id"]
    submitted = _post(client, "clinician_a", world, f"/v1/cases/{case_id}/submit")
    assert submitted.json()["status"] == "queued"
    _post(client, "derm_tx", world, f"/v1/cases/{case_id}/claim")
    client.put(
        f"/v1/cases/{case_id}/report",
        json={**REPORT, "minutes": minutes, "verbal_discussion": verbal},
        headers=world["derm_tx"].headers,
    )
    assert _post(client, "derm_tx", world, f"/v1/cases/{case_id}/report/sign").status_code == 200
    # The referring clinician receives the report.
    view = client.get(f"/v1/cases/{case_id}", headers=world["clinician_a"].headers).json()
    assert view["reports"][0]["signed_at"] is not None
    lines = {b["role"]: [line["code"] for line in b["lines"]] for b in view["billing"]}
    assert lines == {"consultant": [consultant], "requester": ["99452"]}


def _job(name: str):  # type: ignore[no-untyped-def]
    return next(job for job in registered() if job.name == name)


def test_overdue_cases_are_escalated_to_coordinators_once(
    app: FastAPI, client: TestClient, world: World, settings: Settings, clock: FrozenClock
) -> None:
    case_id = _submitted(client, world, urgency="urgent")["id"]
    services = app.state.services
    job = _job("review.escalate_overdue")
    assert run_job(job, services.sessions, services.ports) == 0
    clock.advance(timedelta(hours=4, minutes=1))
    assert run_job(job, services.sessions, services.ports) == 1
    assert run_job(job, services.sessions, services.ports) == 0
    notes = _notes(settings, clock, world["coordinator"].user_id)
    assert [(n.kind, n.link) for n in notes if n.kind == "review_overdue"] == [
        ("review_overdue", f"/review/cases/{case_id}")
    ]
    assert not [
        n
        for n in _notes(settings, clock, world["other_coordinator"].user_id)
        if n.kind == "review_overdue"
    ]
    overdue = client.get(
        "/v1/cases", params={"queue": "overdue"}, headers=world["coordinator"].headers
    ).json()["items"]
    assert [(i["id"], i["overdue"]) for i in overdue] == [(case_id, True)]
    audit = client.get(
        "/v1/audit", params={"object_id": case_id}, headers=world["admin"].headers
    ).json()
    assert any(row["detail"].get("step") == "escalate" for row in audit)


def test_lapsed_claims_return_to_the_queue(
    app: FastAPI, client: TestClient, world: World, settings: Settings, clock: FrozenClock
) -> None:
    case_id = _submitted(client, world)["id"]
    _post(client, "clinician_a", world, f"/v1/cases/{case_id}/claim")
    services = app.state.services
    job = _job("review.release_lapsed_claims")
    assert run_job(job, services.sessions, services.ports) == 0
    clock.advance(timedelta(hours=3))
    assert run_job(job, services.sessions, services.ports) == 1
    view = client.get(f"/v1/cases/{case_id}", headers=world["clinician_a"].headers).json()
    assert (view["status"], view["reviewer_id"]) == ("queued", None)


def test_outsiders_cannot_tell_a_hidden_case_from_a_missing_one(
    client: TestClient, reviewers: World
) -> None:
    world = reviewers
    case_id = _submitted(client, world)["id"]
    for person in ("patient_b", "clinician_x", "derm_ny", "other_admin"):
        real = client.get(f"/v1/cases/{case_id}", headers=world[person].headers)
        fake = client.get(f"/v1/cases/{uuid.uuid4()}", headers=world[person].headers)
        assert real.status_code == fake.status_code == 404
        assert real.json()["detail"] == fake.json()["detail"]
        assert "Canary" not in real.text
    # Eligible reviewers see queue entries, not the case, until they claim it.
    assert client.get(f"/v1/cases/{case_id}", headers=world["derm_tx"].headers).status_code == 404
    audit = client.get(
        "/v1/audit", params={"action": "access_denied"}, headers=world["admin"].headers
    ).json()
    assert any(row["object_id"] == case_id for row in audit)
