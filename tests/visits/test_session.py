"""Joining a visit by link: location, consent, pre-call test, waiting room, the session record,
billing and the note (SQLite and PostgreSQL)."""

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
from telehealth.visits import session_record
from telehealth.visits.runtime import VisitsRuntime
from tests.support import World
from tests.visits.support import (
    GOOD_LINK,
    TIME_ZONE,
    acting,
    book,
    link_for,
    ready_patient,
    services_of,
)

pytestmark = pytest.mark.db

WEAK_LINK = {**GOOD_LINK, "down_mbps": 0.4, "up_mbps": 0.2}


def _h(token: str) -> dict[str, str]:
    return {"X-Visit-Token": token}


@pytest.fixture
def visit(app: FastAPI, world: World) -> dict[str, Any]:
    services = services_of(app)
    visit_id = book(services, world)
    return {
        "id": visit_id,
        "patient": link_for(services, visit_id, world["patient_a"].user_id),
        "clinician": link_for(services, visit_id, world["clinician_a"].user_id),
    }


def test_booking_stores_the_decision_and_links_reveal_nothing_else(
    client: TestClient, world: World, visit: dict[str, Any]
) -> None:
    detail = client.get(f"/v1/visits/{visit['id']}", headers=world["patient_a"].headers).json()
    decision = client.get(
        f"/v1/decisions/{detail['decision_id']}", headers=world["coordinator"].headers
    )
    assert decision.status_code == 200
    assert detail["planned_modality"] == "sync_audio_video"
    assert detail["time_zone"] == TIME_ZONE  # the zone of the availability the slot came from
    mine = client.get("/v1/visit-session", headers=_h(visit["patient"]))
    assert mine.status_code == 200
    body = mine.json()
    assert body["role"] == "patient"
    assert body["state"] == "invited"
    assert body["waiting_room"] is None
    assert body["note"] is None
    assert len(visit["patient"]) > 40  # 256 random bits, url-safe


def test_waiting_room_needs_location_and_consent_first(
    client: TestClient, visit: dict[str, Any]
) -> None:
    token = visit["patient"]
    assert client.post("/v1/visit-session/waiting", headers=_h(token)).status_code == 412
    client.post("/v1/visit-session/location", json={"state": "TX"}, headers=_h(token))
    early = client.post("/v1/visit-session/waiting", headers=_h(token))
    assert early.status_code == 412
    assert "consent" in early.json()["detail"]
    session = client.get("/v1/visit-session", headers=_h(token)).json()
    assert session["consent_outstanding"], "TX requires consent before the first visit"
    _ready_patient_rest = client.post(
        "/v1/visit-session/consent",
        headers=_h(token),
        json={"method": "written", "acknowledged": True},
    )
    assert _ready_patient_rest.status_code == 201
    again = client.post(
        "/v1/visit-session/consent",
        headers=_h(token),
        json={"method": "written", "acknowledged": True},
    )
    assert again.status_code == 409
    waiting = client.post("/v1/visit-session/waiting", headers=_h(token))
    assert waiting.json()["state"] == "waiting"
    assert client.get("/v1/visit-session", headers=_h(token)).json()["queue_position"] == 1


def test_consent_is_shown_on_the_visit_with_who_when_and_how(
    client: TestClient, world: World, visit: dict[str, Any]
) -> None:
    ready_patient(client, visit["patient"])
    detail = client.get(f"/v1/visits/{visit['id']}", headers=world["clinician_a"].headers).json()
    assert detail["consent_outstanding"] == []
    consent = detail["consents"][0]
    assert consent["method"] == "written"
    assert consent["given_by"] == "patient"
    assert consent["located_state"] == "TX"
    assert consent["obtained_at"]
    assert "consent" in consent["requirement"].lower()


def test_clinician_may_record_verbal_consent_but_a_guest_may_not(
    client: TestClient, visit: dict[str, Any]
) -> None:
    guest = client.post(
        "/v1/visit-session/participants",
        headers=_h(visit["clinician"]),
        json={"role": "caregiver", "display_name": "Family"},
    )
    assert guest.status_code == 201
    refused = client.post(
        "/v1/visit-session/consent",
        headers=_h(guest.json()["token"]),
        json={"method": "verbal", "acknowledged": True},
    )
    assert refused.status_code == 403
    verbal = client.post(
        "/v1/visit-session/consent",
        headers=_h(visit["clinician"]),
        json={"method": "verbal", "acknowledged": True},
    )
    assert verbal.status_code == 201
    assert {c["method"] for c in verbal.json()} == {"verbal"}


def test_a_move_to_another_state_is_decided_again_and_refused_when_not_allowed(
    client: TestClient, visit: dict[str, Any]
) -> None:
    token = visit["patient"]
    before = client.get("/v1/visit-session", headers=_h(token)).json()
    moved = client.post("/v1/visit-session/location", json={"state": "NY"}, headers=_h(token))
    assert moved.status_code == 200
    outcome = moved.json()
    assert outcome["state_changed"] is True
    assert outcome["proceed"] is False
    assert outcome["decision_id"] != str(before["visit_id"])
    refused = client.post("/v1/visit-session/waiting", headers=_h(token))
    assert refused.status_code == 409
    back = client.post("/v1/visit-session/location", json={"state": "TX"}, headers=_h(token))
    assert back.json()["proceed"] is True
    assert back.json()["state_changed"] is True


def test_weak_connection_falls_back_to_audio_only_with_the_reason_recorded(
    client: TestClient, world: World, visit: dict[str, Any]
) -> None:
    token = visit["patient"]
    result = client.post("/v1/visit-session/precall", json=WEAK_LINK, headers=_h(token))
    assert result.status_code == 200
    body = result.json()
    assert body["video_feasible"] is False
    assert "sync_audio_only" in body["offered"]
    assert body["reason"]
    assert body["planned_modality"] == "sync_audio_only"
    detail = client.get(f"/v1/visits/{visit['id']}", headers=world["coordinator"].headers).json()
    assert detail["planned_modality"] == "sync_audio_only"
    assert detail["fallback_reason"] == body["reason"]
    assert detail["current_decision_id"] != detail["decision_id"]


def test_waiting_room_cannot_be_bypassed_and_the_clinician_admits(
    client: TestClient, visit: dict[str, Any]
) -> None:
    patient, clinician = visit["patient"], visit["clinician"]
    ready_patient(client, patient)
    client.post("/v1/visit-session/waiting", headers=_h(patient))
    # A patient cannot admit themself, not even by naming their own participant id.
    me = client.get("/v1/visit-session", headers=_h(patient)).json()["participant_id"]
    assert (
        client.post(f"/v1/visit-session/participants/{me}/admit", headers=_h(patient)).status_code
        == 403
    )
    host = client.post("/v1/visit-session/waiting", headers=_h(clinician)).json()
    assert host["state"] == "admitted"
    room = client.get("/v1/visit-session", headers=_h(clinician)).json()["waiting_room"]
    waiting = [p for p in room if p["state"] == "waiting"]
    assert [p["role"] for p in waiting] == ["patient"]
    assert waiting[0]["intake"] == {
        "location_confirmed": True,
        "location_state": "TX",
        "consent_complete": True,
        "precall_done": True,
        "video_feasible": True,
    }
    admitted = client.post(f"/v1/visit-session/participants/{me}/admit", headers=_h(clinician))
    assert admitted.json()["state"] == "admitted"
    assert client.get("/v1/visit-session", headers=_h(patient)).json()["status"] == "in_progress"


def test_participant_ids_of_another_visit_are_not_found(
    app: FastAPI, client: TestClient, world: World, visit: dict[str, Any]
) -> None:
    services = services_of(app)
    other = book(services, world)
    other_patient = link_for(services, other, world["patient_a"].user_id)
    their_id = client.get("/v1/visit-session", headers=_h(other_patient)).json()["participant_id"]
    for action in ("admit", "remove"):
        response = client.post(
            f"/v1/visit-session/participants/{their_id}/{action}", headers=_h(visit["clinician"])
        )
        assert response.status_code == 404


def test_segments_become_the_encounter_record_with_modifier_93(
    app: FastAPI,
    client: TestClient,
    world: World,
    clock: FrozenClock,
    visit: dict[str, Any],
) -> None:
    services = services_of(app)
    patient, clinician = visit["patient"], visit["clinician"]
    ready_patient(client, patient)
    client.post("/v1/visit-session/waiting", headers=_h(patient))
    client.post("/v1/visit-session/waiting", headers=_h(clinician))
    me = client.get("/v1/visit-session", headers=_h(patient)).json()["participant_id"]
    client.post(f"/v1/visit-session/participants/{me}/admit", headers=_h(clinician))
    host = client.get("/v1/visit-session", headers=_h(clinician)).json()["participant_id"]
    me, host = uuid.UUID(me), uuid.UUID(host)
    clock.advance(timedelta(minutes=1))
    with acting(services, None) as scope:
        session_record.record_media(scope, me, True)
        session_record.record_media(scope, host, True)
    clock.advance(timedelta(minutes=4))
    with acting(services, None) as scope:
        assert session_record.record_media(scope, me, False) == "sync_audio_only"
    clock.advance(timedelta(minutes=20))
    ended = client.post(
        "/v1/visit-session/end",
        json={"em_code": "99213", "em_basis": "mdm"},
        headers=_h(clinician),
    )
    assert ended.status_code == 200
    assert ended.json()["status"] == "completed"
    detail = client.get(f"/v1/visits/{visit['id']}", headers=world["clinician_a"].headers).json()
    segments = [(s["modality"]) for s in detail["session"]["segments"]]
    assert segments == ["sync_audio_only", "sync_audio_video", "sync_audio_only"]
    lines = detail["session"]["billing"]["lines"]
    assert lines[0]["code"] == "99213"
    assert "93" in lines[0]["modifiers"]
    assert "level chosen by medical decision making" in lines[0]["rationale"]
    assert detail["session"]["em_code"] == "99213"
    assert detail["session"]["two_way_media"] is True
    kinds = [e["kind"] for e in detail["session"]["presence"]]
    assert kinds.count("admit") == 2
    # Links stop working once the visit is over.
    assert client.get("/v1/visit-session", headers=_h(patient)).status_code == 401


def test_note_is_versioned_signed_flagged_when_late_and_amended_by_appending(
    client: TestClient, world: World, clock: FrozenClock, visit: dict[str, Any]
) -> None:
    headers = world["clinician_a"].headers
    path = f"/v1/visits/{visit['id']}/note"
    first = client.put(path, json={"body": "Subjective: rash"}, headers=headers)
    assert first.status_code == 200
    assert first.json()["version"] == 1
    stale = client.put(path, json={"body": "other", "version": 5}, headers=headers)
    assert stale.status_code == 409
    second = client.put(
        path, json={"body": "Subjective: rash, better", "version": 1}, headers=headers
    )
    assert second.json()["version"] == 2
    assert client.post(f"{path}/amendments", json={"body": "x"}, headers=headers).status_code == 409
    # The note is signed long after the session: the visit never started, so the window
    # starts at the end of the session only -- no session end, not late.
    signed = client.post(f"{path}/sign", headers=headers)
    assert signed.status_code == 200
    assert signed.json()["signed_late"] is False
    assert (
        client.put(path, json={"body": "changed", "version": 2}, headers=headers).status_code == 409
    )
    amended = client.post(
        f"{path}/amendments", json={"body": "Addendum: photo reviewed"}, headers=headers
    )
    assert amended.status_code == 201
    note = client.get(f"/v1/visits/{visit['id']}", headers=headers).json()["note"]
    assert note["body"] == "Subjective: rash, better"
    assert [a["body"] for a in note["amendments"]] == ["Addendum: photo reviewed"]
    # The patient reads the visit and its note, but the note is the clinician's to write.
    patient_view = client.put(path, json={"body": "mine"}, headers=world["patient_a"].headers)
    assert patient_view.status_code == 403


def test_note_signed_after_the_window_is_flagged(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock, visit: dict[str, Any]
) -> None:
    services = services_of(app)
    services.visits = VisitsRuntime(
        settings=services.settings.visits.model_copy(update={"note_sign_window_hours": 1}),
        hub=services.ports.hub,
    )
    patient, clinician = visit["patient"], visit["clinician"]
    ready_patient(client, patient)
    client.post("/v1/visit-session/waiting", headers=_h(patient))
    client.post("/v1/visit-session/waiting", headers=_h(clinician))
    me = client.get("/v1/visit-session", headers=_h(patient)).json()["participant_id"]
    client.post(f"/v1/visit-session/participants/{me}/admit", headers=_h(clinician))
    written = client.put(
        "/v1/visit-session/note", json={"body": "Assessment"}, headers=_h(clinician)
    )
    assert written.status_code == 200
    clock.advance(timedelta(minutes=15))
    client.post("/v1/visit-session/end", json={}, headers=_h(clinician))
    clock.advance(timedelta(hours=2))
    # The link ended with the visit; the clinician signs from their account.
    path = f"/v1/visits/{visit['id']}/note/sign"
    assert client.post(path, headers=_h(clinician)).status_code == 401
    signed = client.post(path, headers=world["clinician_a"].headers)
    assert signed.status_code == 200
    assert signed.json()["signed_late"] is True


def test_every_session_action_is_audited_without_phi(
    app: FastAPI, client: TestClient, world: World, visit: dict[str, Any]
) -> None:
    ready_patient(client, visit["patient"])
    services = services_of(app)
    with services.sessions() as session:
        events = session.execute(select(AuditRow)).scalars().all()
    kinds = {(e.action, e.object_type) for e in events}
    assert {
        ("create", "visit"),
        ("update", "visit"),
        ("create", "visit_consent"),
        ("create", "visit_precall"),
        ("token_issue", "visit_participant"),
    } <= kinds
    assert not any("Canary" in str(e.detail) for e in events)


def test_the_upload_probe_keeps_its_own_limit_above_the_body_limit(
    client: TestClient, visit: dict[str, Any], app: FastAPI
) -> None:
    services = services_of(app)
    probe_limit = services.settings.visits.probe_max_bytes
    assert probe_limit > services.settings.max_body_bytes
    headers = {**_h(visit["patient"]), "Content-Type": "application/octet-stream"}
    within = client.post("/v1/visit-session/probe", content=b"\0" * probe_limit, headers=headers)
    assert within.status_code == 200
    assert within.json()["received_bytes"] == probe_limit
    above = client.post(
        "/v1/visit-session/probe", content=b"\0" * (probe_limit + 1), headers=headers
    )
    assert above.status_code == 413
    assert above.json()["detail"] == "probe size above the limit"
