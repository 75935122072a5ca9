"""The signaling socket: who gets in, what is relayed to whom, removal, DTLS-SRTP only, and
media statistics becoming the session record (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from telehealth.clock import FrozenClock
from tests.support import World
from tests.visits.support import book, link_for, services_of

pytestmark = pytest.mark.db

SIGNAL = "/v1/visit-session/signal"
FINGERPRINT = "a=fingerprint:sha-256 " + ":".join(["AB"] * 32)
SECURE_OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n" + FINGERPRINT + "\r\n"
    "a=setup:actpass\r\n"
)
SDES_OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 RTP/SAVP 111\r\nc=IN IP4 0.0.0.0\r\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
)
NO_FINGERPRINT = SECURE_OFFER.replace(FINGERPRINT + "\r\n", "")


def eventually(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _h(token: str) -> dict[str, str]:
    return {"X-Visit-Token": token}


@contextmanager
def joined(client: TestClient, token: str) -> Iterator[tuple[WebSocketTestSession, dict[str, Any]]]:
    with client.websocket_connect(SIGNAL) as ws:
        ws.send_json({"type": "auth", "token": token})
        yield ws, ws.receive_json()


def _refused(
    client: TestClient, first: dict[str, Any] | None, *, subprotocols: list[str] | None = None
) -> bool:
    """True when the socket is turned away with the single refusal answer."""
    with client.websocket_connect(SIGNAL, subprotocols=subprotocols or []) as ws:
        if first is not None:
            ws.send_json(first)
        message = ws.receive_json()
        if message.get("type") != "error" or message.get("code") != "token_invalid":
            return False
        try:
            ws.receive_json()
        except WebSocketDisconnect as closed:
            return closed.code == 4401
        return False


def _ready(client: TestClient, patient: str, clinician: str) -> str:
    client.post("/v1/visit-session/location", json={"state": "TX"}, headers=_h(patient))
    client.post(
        "/v1/visit-session/consent",
        json={"method": "written", "acknowledged": True},
        headers=_h(patient),
    )
    client.post("/v1/visit-session/waiting", headers=_h(patient))
    client.post("/v1/visit-session/waiting", headers=_h(clinician))
    me: str = client.get("/v1/visit-session", headers=_h(patient)).json()["participant_id"]
    return me


@contextmanager
def _in_call(
    client: TestClient, visit: dict[str, Any]
) -> Iterator[tuple[WebSocketTestSession, WebSocketTestSession, str]]:
    """The clinician's and the admitted patient's sockets, once the clinician has read the
    patient's arrival, and the patient's participant id."""
    me = _ready(client, visit["patient"], visit["clinician"])
    client.post(f"/v1/visit-session/participants/{me}/admit", headers=_h(visit["clinician"]))
    with (
        joined(client, visit["clinician"]) as (host, _),
        joined(client, visit["patient"]) as (patient, _),
    ):
        assert host.receive_json()["type"] == "peer-joined"
        yield host, patient, me


def _sync(ws: WebSocketTestSession) -> None:
    """Messages on one socket are handled in order: a pong means everything before it is done."""
    ws.send_json({"type": "ping"})
    while ws.receive_json()["type"] != "pong":
        pass


@pytest.fixture
def visit(app: FastAPI, world: World) -> dict[str, Any]:
    services = services_of(app)
    visit_id = book(services, world)
    return {
        "id": visit_id,
        "patient": link_for(services, visit_id, world["patient_a"].user_id),
        "clinician": link_for(services, visit_id, world["clinician_a"].user_id),
    }


def test_unauthorised_joins_are_all_refused(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock, visit: dict[str, Any]
) -> None:
    services = services_of(app)
    attempts: list[tuple[str, dict[str, Any] | None, list[str] | None]] = [
        ("no token", None, None),
        ("not an auth message", {"type": "offer", "sdp": SECURE_OFFER}, None),
        ("empty token", {"type": "auth", "token": ""}, None),
        ("unknown token", {"type": "auth", "token": "thv_" + "A" * 43}, None),
        ("garbage", {"type": "auth", "token": "../../etc/passwd"}, None),
        ("unknown token as subprotocol", None, ["telehealth.visit.v1", "thv_" + "B" * 43]),
    ]
    # A removed participant: their link stops working at once, reconnects included.
    guest = client.post(
        "/v1/visit-session/participants",
        headers=_h(visit["clinician"]),
        json={"role": "caregiver", "display_name": "Family"},
    ).json()
    client.post(
        f"/v1/visit-session/participants/{guest['participant_id']}/remove",
        headers=_h(visit["clinician"]),
    )
    attempts.append(("removed participant", {"type": "auth", "token": guest["token"]}, None))
    # A cancelled visit's links are dead.
    cancelled = book(services, world)
    dead = link_for(services, cancelled, world["patient_a"].user_id)
    client.post(f"/v1/visits/{cancelled}/cancel", headers=world["coordinator"].headers)
    attempts.append(("cancelled visit", {"type": "auth", "token": dead}, None))
    accepted = [
        name
        for name, first, protocols in attempts
        if not _refused(client, first, subprotocols=protocols)
    ]
    # Expired: the link outlives its slot only by the grace period.
    clock.advance(timedelta(days=4))
    expired = [
        name
        for name, token in (
            ("expired patient", visit["patient"]),
            ("expired clinician", visit["clinician"]),
        )
        if not _refused(client, {"type": "auth", "token": token})
    ]
    total = len(attempts) + 2
    assert total == 10
    assert accepted + expired == []


def test_a_valid_token_works_in_the_first_message_or_as_a_subprotocol(
    client: TestClient, visit: dict[str, Any]
) -> None:
    with joined(client, visit["patient"]) as (_ws, welcome):
        assert welcome["type"] == "welcome"
        assert welcome["state"] == "waiting"
    protocols = ["telehealth.visit.v1", visit["clinician"]]
    with client.websocket_connect(SIGNAL, subprotocols=protocols) as ws:
        assert ws.receive_json()["role"] == "clinician"


def test_relay_only_between_admitted_participants_of_one_visit(
    app: FastAPI, client: TestClient, world: World, visit: dict[str, Any]
) -> None:
    services = services_of(app)
    me = _ready(client, visit["patient"], visit["clinician"])
    guest = client.post(
        "/v1/visit-session/participants",
        headers=_h(visit["clinician"]),
        json={"role": "interpreter", "display_name": "Interpreter"},
    ).json()
    other_visit = book(services, world)
    outsider = link_for(services, other_visit, world["clinician_a"].user_id)
    client.post("/v1/visit-session/waiting", headers=_h(outsider))
    with (
        joined(client, visit["clinician"]) as (host, host_welcome),
        joined(client, visit["patient"]) as (patient, _),
        joined(client, guest["token"]) as (waiting_guest, _),
        joined(client, outsider) as (stranger, _),
    ):
        host_id = host_welcome["id"]
        # Waiting participants cannot signal, and nobody signals to them.
        patient.send_json({"type": "offer", "to": host_id, "sdp": SECURE_OFFER})
        assert patient.receive_json()["code"] == "invalid_state"
        admitted = client.post(
            f"/v1/visit-session/participants/{me}/admit", headers=_h(visit["clinician"])
        )
        assert admitted.status_code == 200
        assert patient.receive_json()["type"] == "admitted"
        joined_note = host.receive_json()
        assert joined_note == {
            "type": "peer-joined",
            "id": me,
            "role": "patient",
            "display_name": "CanaryA SecretA",
        }
        host.send_json({"type": "offer", "to": me, "sdp": SECURE_OFFER})
        host.send_json(
            {"type": "ice", "candidate": {"candidate": "candidate:1 1 udp 1 192.0.2.1 9 typ host"}}
        )
        _sync(host)
        offer = patient.receive_json()
        assert offer["type"] == "offer"
        assert offer["from"] == host_id
        assert patient.receive_json()["type"] == "ice"
        # Someone from another visit addressing this visit's patient reaches nobody.
        stranger.send_json({"type": "offer", "to": me, "sdp": SECURE_OFFER})
        _sync(stranger)
        _sync(patient)  # the next message the patient sees is the pong, not the offer
        _sync(waiting_guest)  # the waiting interpreter saw neither the offer nor the ICE


def test_offers_without_dtls_srtp_are_refused_and_not_relayed(
    client: TestClient, visit: dict[str, Any]
) -> None:
    with _in_call(client, visit) as (host, patient, me):
        for sdp in (SDES_OFFER, NO_FINGERPRINT):
            host.send_json({"type": "offer", "to": me, "sdp": sdp})
            refusal = host.receive_json()
            assert refusal["type"] == "error"
            assert refusal["code"] == "invalid_input"
        _sync(host)
        _sync(patient)


def test_removal_closes_the_socket_at_once_and_reconnects_fail(
    client: TestClient, visit: dict[str, Any]
) -> None:
    clinician = visit["clinician"]
    client.post("/v1/visit-session/waiting", headers=_h(clinician))
    guest = client.post(
        "/v1/visit-session/participants",
        headers=_h(clinician),
        json={"role": "caregiver", "display_name": "Family"},
    ).json()
    client.post("/v1/visit-session/waiting", headers=_h(guest["token"]))
    client.post(
        f"/v1/visit-session/participants/{guest['participant_id']}/admit", headers=_h(clinician)
    )
    with joined(client, guest["token"]) as (ws, welcome):
        assert welcome["state"] == "admitted"
        client.post(
            f"/v1/visit-session/participants/{guest['participant_id']}/remove",
            headers=_h(clinician),
        )
        assert ws.receive_json()["type"] == "removed"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403
    assert _refused(client, {"type": "auth", "token": guest["token"]})
    assert client.get("/v1/visit-session", headers=_h(guest["token"])).status_code == 401


def test_media_statistics_record_video_falling_back_to_audio(
    client: TestClient, world: World, clock: FrozenClock, visit: dict[str, Any]
) -> None:
    me = _ready(client, visit["patient"], visit["clinician"])
    client.post(f"/v1/visit-session/participants/{me}/admit", headers=_h(visit["clinician"]))
    with (
        joined(client, visit["clinician"]) as (host, _),
        joined(client, visit["patient"]) as (patient, _),
    ):
        for frames in (30, 90):
            clock.advance(timedelta(seconds=2))
            for ws in (host, patient):
                ws.send_json(
                    {
                        "type": "stats",
                        "video_sending": True,
                        "video_frames_sent": frames,
                        "video_frames_decoded": frames,
                    }
                )
                _sync(ws)
        clock.advance(timedelta(minutes=3))
        patient.send_json(
            {
                "type": "stats",
                "video_sending": False,
                "video_frames_sent": 90,
                "video_frames_decoded": 200,
            }
        )
        _sync(patient)
        clock.advance(timedelta(minutes=1))
    detail = client.get(f"/v1/visits/{visit['id']}", headers=world["clinician_a"].headers).json()
    modalities = [s["modality"] for s in detail["session"]["segments"]]
    assert modalities == ["sync_audio_only", "sync_audio_video", "sync_audio_only"]
    kinds = [e["kind"] for e in detail["session"]["presence"]]
    assert kinds.count("join") == 2

    def leaves() -> int:
        record = client.get(f"/v1/visits/{visit['id']}", headers=world["clinician_a"].headers)
        return [e["kind"] for e in record.json()["session"]["presence"]].count("leave")

    # A leave is written when the server notices the socket closed, just after the client.
    assert eventually(lambda: leaves() == 2)


def test_malformed_messages_get_an_error_and_the_socket_survives(
    client: TestClient, visit: dict[str, Any]
) -> None:
    with joined(client, visit["patient"]) as (ws, _):
        for raw in (
            "not json",
            "[]",
            '{"type": "nope"}',
            '{"type": "offer"}',
            '{"type": "ice", "to": 5}',
            "x" * 70_000,
        ):
            ws.send_text(raw)
            assert ws.receive_json()["type"] == "error"
        _sync(ws)


def test_participant_ids_are_random_uuids(client: TestClient, visit: dict[str, Any]) -> None:
    me = client.get("/v1/visit-session", headers=_h(visit["patient"])).json()["participant_id"]
    assert uuid.UUID(me).version == 4


def test_media_states_travel_between_admitted_participants_named_by_the_server(
    client: TestClient, visit: dict[str, Any]
) -> None:
    me = _ready(client, visit["patient"], visit["clinician"])
    host_name = client.get("/v1/visit-session", headers=_h(visit["clinician"])).json()
    with joined(client, visit["patient"]) as (waiting, _):
        # Nobody learns a waiting participant's media state.
        waiting.send_json({"type": "media", "audio": True, "video": True})
        assert waiting.receive_json()["code"] == "invalid_state"
    client.post(f"/v1/visit-session/participants/{me}/admit", headers=_h(visit["clinician"]))
    with (
        joined(client, visit["clinician"]) as (host, host_welcome),
        joined(client, visit["patient"]) as (patient, _),
    ):
        assert host.receive_json()["type"] == "peer-joined"
        patient.send_json({"type": "media", "audio": False, "video": False})
        media = host.receive_json()
        assert media.pop("conn")  # the sending socket, set by the server
        assert media == {
            "type": "media",
            "from": me,
            "audio": False,
            "video": False,
            "screen": False,
            "display_name": "CanaryA SecretA",
            "role": "patient",
        }
        # The answering side learns who offers from the offer itself; a client cannot
        # name itself.
        host.send_json(
            {"type": "offer", "to": me, "sdp": SECURE_OFFER, "display_name": "Someone else"}
        )
        offer = patient.receive_json()
        assert offer["from"] == host_welcome["id"]
        assert (offer["display_name"], offer["role"]) == (host_name["display_name"], "clinician")
        host.send_json({"type": "media", "to": me, "audio": True, "video": False, "screen": True})
        shared = patient.receive_json()
        assert (shared["type"], shared["video"], shared["screen"]) == ("media", False, True)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "media", "audio": True},
        {"type": "media", "audio": 1, "video": True},
        {"type": "media", "audio": "false", "video": True},
        {"type": "media", "audio": True, "video": True, "screen": None},
        {"type": "media", "audio": True, "video": True, "display_name": "Dr Who"},
    ],
)
def test_malformed_media_states_are_refused_and_not_relayed(
    client: TestClient, visit: dict[str, Any], message: dict[str, Any]
) -> None:
    with _in_call(client, visit) as (host, patient, _me):
        patient.send_json(message)
        refusal = patient.receive_json()
        assert (refusal["type"], refusal["code"]) == ("error", "invalid_input")
        _sync(patient)
        _sync(host)  # the host's next message is its pong: nothing was relayed
