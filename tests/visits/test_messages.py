"""A visit's messages: the call's chat over the signaling socket and the session API, and the
clinician's word to the waiting room (SQLite and PostgreSQL; Redis across two instances)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.testclient import WebSocketTestSession

from telehealth.app import create_app
from telehealth.audit.tables import AuditRow
from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.errors import DomainError, ErrorCode
from telehealth.visits import links, messages, session_record
from telehealth.visits.model import MessageAudience
from telehealth.visits.signaling import CHANNEL_PREFIX
from tests.support import World, real_ports
from tests.visits.support import acting, book, booked_with_links, link_for, services_of
from tests.visits.test_signaling import eventually, joined

pytestmark = pytest.mark.db

REDIS_URL = os.environ.get("TELEHEALTH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
MESSAGES = "/v1/visit-session/messages"


def _h(token: str) -> dict[str, str]:
    return {"X-Visit-Token": token}


def _post(client: TestClient, token: str, body: str, audience: str = "call") -> Any:
    return client.post(MESSAGES, json={"audience": audience, "body": body}, headers=_h(token))


def _waiting(client: TestClient, patient: str) -> str:
    """The patient confirms Texas, consents and waits; their participant id."""
    client.post("/v1/visit-session/location", json={"state": "TX"}, headers=_h(patient))
    client.post(
        "/v1/visit-session/consent",
        json={"method": "written", "acknowledged": True},
        headers=_h(patient),
    )
    assert client.post("/v1/visit-session/waiting", headers=_h(patient)).status_code == 200
    me: str = client.get("/v1/visit-session", headers=_h(patient)).json()["participant_id"]
    return me


def _in_call(client: TestClient, visit: dict[str, Any]) -> str:
    """The clinician opens the call and admits the waiting patient; the patient's id."""
    me = _waiting(client, visit["patient"])
    client.post("/v1/visit-session/waiting", headers=_h(visit["clinician"]))
    admitted = client.post(
        f"/v1/visit-session/participants/{me}/admit", headers=_h(visit["clinician"])
    )
    assert admitted.status_code == 200
    return me


def _name(client: TestClient, token: str) -> str:
    name: str = client.get("/v1/visit-session", headers=_h(token)).json()["display_name"]
    return name


def _next(ws: WebSocketTestSession, kind: str) -> dict[str, Any]:
    """The next message of ``kind``, skipping the others (presence, peers)."""
    while True:
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == kind:
            return message


def _drained(ws: WebSocketTestSession) -> list[str]:
    """The types of everything the socket received up to a pong: messages on one socket are
    handled and sent in order, and a hub delivers in publishing order."""
    ws.send_json({"type": "ping"})
    seen = []
    while (kind := ws.receive_json()["type"]) != "pong":
        seen.append(kind)
    return seen


@pytest.fixture
def visit(app: FastAPI, world: World) -> dict[str, Any]:
    return booked_with_links(services_of(app), world)


@pytest.mark.parametrize(
    "body",
    ["", "   \n ", "x" * 2001, "ring\x07", "a\ttab", "\x1b[31mred", "nul\x00", "cr\ronly"],
)
def test_a_message_is_plain_text_of_1_to_2000_characters(
    client: TestClient, visit: dict[str, Any], body: str
) -> None:
    _in_call(client, visit)
    refused = _post(client, visit["patient"], body)
    assert refused.status_code == 422
    assert refused.json()["field"] == "body"


def test_a_message_is_stored_stripped_with_its_newlines(
    client: TestClient, visit: dict[str, Any]
) -> None:
    _in_call(client, visit)
    text = "  Two lines:\r\nfirst and second  " + "é" * 1960
    sent = _post(client, visit["patient"], text)
    assert sent.status_code == 201, sent.text
    assert sent.json()["body"] == text.strip().replace("\r\n", "\n")
    assert _post(client, visit["patient"], "y" * 2000).status_code == 201


def test_the_call_is_for_those_in_it_and_the_waiting_room_for_the_clinician(
    client: TestClient, world: World, visit: dict[str, Any], clock: FrozenClock
) -> None:
    patient, clinician = visit["patient"], visit["clinician"]
    me = _waiting(client, patient)
    assert _post(client, patient, "Can I come in?").status_code == 409
    assert _post(client, patient, "Hello all", "waiting").status_code == 403
    guest = client.post(
        "/v1/visit-session/participants",
        headers=_h(clinician),
        json={"role": "interpreter", "display_name": "Interpreter"},
    ).json()["token"]
    assert _post(client, guest, "Hola", "waiting").status_code == 403
    assert client.get("/v1/visit-session", headers=_h(patient)).json()["waiting_message"] is None

    client.post("/v1/visit-session/waiting", headers=_h(clinician))
    assert _post(client, clinician, "Running 5 minutes late", "waiting").status_code == 201
    clock.advance(timedelta(minutes=5))
    assert _post(client, clinician, "I'll be with you shortly", "waiting").status_code == 201
    shown = client.get("/v1/visit-session", headers=_h(patient)).json()["waiting_message"]
    assert shown["body"] == "I'll be with you shortly"
    assert shown["sent_at"].startswith(clock.now().date().isoformat())
    assert client.get(MESSAGES, headers=_h(patient)).json() == []  # nothing while waiting

    client.post(f"/v1/visit-session/participants/{me}/admit", headers=_h(clinician))
    assert _post(client, patient, "Thank you").status_code == 201
    clock.advance(timedelta(seconds=30))
    assert _post(client, clinician, "How are you today?").status_code == 201
    for token in (patient, clinician):
        chat = client.get(MESSAGES, headers=_h(token)).json()
        assert [(m["display_name"], m["body"]) for m in chat] == [
            (_name(client, patient), "Thank you"),
            (_name(client, clinician), "How are you today?"),
        ]
        assert {m["audience"] for m in chat} == {"call"}


def test_a_guest_let_in_later_reads_the_chat_from_then_on(
    client: TestClient, visit: dict[str, Any], clock: FrozenClock
) -> None:
    _in_call(client, visit)
    clinician = visit["clinician"]
    _post(client, visit["patient"], "Before the interpreter came")
    clock.advance(timedelta(minutes=1))
    invited = client.post(
        "/v1/visit-session/participants",
        headers=_h(clinician),
        json={"role": "interpreter", "display_name": "Interpreter"},
    ).json()
    client.post("/v1/visit-session/waiting", headers=_h(invited["token"]))
    client.post(
        f"/v1/visit-session/participants/{invited['participant_id']}/admit",
        headers=_h(clinician),
    )
    clock.advance(timedelta(minutes=1))
    _post(client, invited["token"], "I am here")
    read = [m["body"] for m in client.get(MESSAGES, headers=_h(invited["token"])).json()]
    assert read == ["I am here"]
    everything = [m["body"] for m in client.get(MESSAGES, headers=_h(clinician)).json()]
    assert everything == ["Before the interpreter came", "I am here"]


def test_no_link_or_another_visits_link_reads_nothing_of_this_chat(
    app: FastAPI, client: TestClient, world: World, visit: dict[str, Any]
) -> None:
    _in_call(client, visit)
    _post(client, visit["patient"], "Only for this visit")
    assert client.get(MESSAGES).status_code == 401
    assert client.get(MESSAGES, headers=_h("thv_" + "A" * 43)).status_code == 401
    assert client.get(MESSAGES, headers=world["patient_b"].headers).status_code == 401
    services = services_of(app)
    other = book(services, world, patient="patient_b")
    theirs = link_for(services, other, world["patient_b"].user_id)
    assert client.get(MESSAGES, headers=_h(theirs)).json() == []
    assert _post(client, theirs, "Hello?").status_code == 409


def test_messages_are_audited_with_the_patient_and_never_their_text(
    app: FastAPI, client: TestClient, world: World, visit: dict[str, Any]
) -> None:
    _in_call(client, visit)
    _post(client, visit["patient"], "Canary words in the chat")
    _post(client, visit["clinician"], "Canary words to the waiting room", "waiting")
    client.get(MESSAGES, headers=_h(visit["patient"]))
    with services_of(app).sessions() as session:
        rows = session.execute(select(AuditRow)).scalars().all()
    writes = [r for r in rows if (r.action, r.object_type) == ("create", "visit_message")]
    assert sorted(r.detail["audience"] for r in writes) == ["call", "waiting"]
    assert {r.patient_id for r in writes} == {world["patient_a"].patient_id}
    reads = [r for r in rows if r.action == "read" and r.detail.get("messages") == "call"]
    assert len(reads) == 1
    assert reads[0].patient_id == world["patient_a"].patient_id
    assert not any("Canary" in str(r.detail) for r in rows)


def test_an_ended_visit_takes_no_more_messages(
    app: FastAPI, client: TestClient, world: World, visit: dict[str, Any]
) -> None:
    _in_call(client, visit)
    services = services_of(app)
    with acting(services, None) as scope:
        patient = links.resolve_participant(scope, visit["patient"])
        host = links.resolve_participant(scope, visit["clinician"])
        session_record.end_visit(scope, None, host.visit, em_code=None)
        for ctx, audience in ((patient, MessageAudience.CALL), (host, MessageAudience.WAITING)):
            with pytest.raises(DomainError) as refused:
                messages.post(scope, ctx, audience, "Still there?")
            assert refused.value.code is ErrorCode.INVALID_STATE
    # Through the session API the link of an ended visit no longer works at all.
    assert _post(client, visit["patient"], "Still there?").status_code == 401


def test_the_record_shows_the_chat_to_its_readers(
    client: TestClient, world: World, visit: dict[str, Any], clock: FrozenClock
) -> None:
    _in_call(client, visit)
    patient, clinician = _name(client, visit["patient"]), _name(client, visit["clinician"])
    _post(client, visit["clinician"], "Please wait a moment", "waiting")
    clock.advance(timedelta(minutes=1))
    _post(client, visit["patient"], "My knee <b>hurts</b>\nsince Monday")
    for reader in ("clinician_a", "patient_a"):
        detail = client.get(f"/v1/visits/{visit['id']}", headers=world[reader].headers).json()
        assert [(m["audience"], m["display_name"]) for m in detail["messages"]] == [
            ("waiting", clinician),
            ("call", patient),
        ]
    page = client.get(f"/visits/{visit['id']}", headers=world["patient_a"].headers)
    assert page.status_code == 200
    assert "My knee &lt;b&gt;hurts&lt;/b&gt;\nsince Monday" in page.text
    assert f"<strong>{clinician}</strong> to the waiting room" in page.text
    hidden = client.get(f"/v1/visits/{visit['id']}", headers=world["patient_b"].headers)
    assert hidden.status_code == 404


# --- over the signaling socket ------------------------------------------------------------------


def test_chat_over_the_socket_is_stored_and_reaches_everyone_in_the_call(
    client: TestClient, visit: dict[str, Any], clock: FrozenClock
) -> None:
    patient_id = _in_call(client, visit)
    guest = client.post(
        "/v1/visit-session/participants",
        headers=_h(visit["clinician"]),
        json={"role": "caregiver", "display_name": "Family"},
    ).json()["token"]
    client.post("/v1/visit-session/waiting", headers=_h(guest))
    with (
        joined(client, visit["patient"]) as (patient, _),
        joined(client, visit["clinician"]) as (clinician, _),
        joined(client, guest) as (waiting, _),
    ):
        patient.send_json({"type": "chat", "body": "  Hello doctor  "})
        heard = _next(clinician, "chat")
        echo = _next(patient, "chat")
        assert heard == echo
        assert heard["from"] == patient_id
        assert heard["display_name"] == _name(client, visit["patient"])
        assert heard["role"] == "patient"
        assert heard["body"] == "Hello doctor"
        assert uuid.UUID(heard["id"])
        clock.advance(timedelta(seconds=5))
        clinician.send_json({"type": "chat", "body": "Hello"})
        assert _next(patient, "chat")["body"] == "Hello"

        patient.send_json({"type": "chat", "body": "\x07"})
        assert _next(patient, "error")["code"] == "invalid_input"
        patient.send_json({"type": "chat"})
        assert _next(patient, "error")["code"] == "invalid_input"
        waiting.send_json({"type": "chat", "body": "Let me in"})
        assert _next(waiting, "error")["code"] == "invalid_state"
        assert "chat" not in _drained(waiting)
    stored = client.get(MESSAGES, headers=_h(visit["clinician"])).json()
    assert [m["body"] for m in stored] == ["Hello doctor", "Hello"]


def test_the_waiting_room_hears_the_clinician_at_once(
    client: TestClient, visit: dict[str, Any]
) -> None:
    _waiting(client, visit["patient"])
    client.post("/v1/visit-session/waiting", headers=_h(visit["clinician"]))
    with (
        joined(client, visit["patient"]) as (patient, _),
        joined(client, visit["clinician"]) as (clinician, _),
    ):
        assert _post(client, visit["clinician"], "Running 10 minutes late", "waiting").is_success
        heard = _next(patient, "waiting-message")
        assert heard["body"] == "Running 10 minutes late"
        assert heard["sent_at"]
        assert "waiting-message" not in _drained(clinician)


@pytest.fixture
def two_instances(settings: Settings, clock: FrozenClock) -> Iterator[tuple[FastAPI, FastAPI]]:
    """Two applications on one database whose hubs meet in Redis, as two servers would."""
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail("Redis is required in CI")
        pytest.skip("Redis is not reachable")
    shared = settings.model_copy(update={"redis_url": REDIS_URL})
    apps = [create_app(shared, ports=real_ports(shared, clock)) for _ in range(2)]
    yield apps[0], apps[1]
    for app in apps:
        app.state.services.engine.dispose()


def test_chat_and_the_waiting_room_message_cross_instances_through_redis(
    two_instances: tuple[FastAPI, FastAPI], world: World
) -> None:
    first, second = two_instances
    redis_client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    services = services_of(first)
    visit_id = book(services, world)
    patient = link_for(services, visit_id, world["patient_a"].user_id)
    host = link_for(services, visit_id, world["clinician_a"].user_id)
    with TestClient(first) as one, TestClient(second) as two:
        me = _waiting(one, patient)
        two.post("/v1/visit-session/waiting", headers=_h(host))
        with joined(one, patient) as (waiting, _), joined(two, host) as (clinician, _):
            # Both instances have subscribed to the visit before anything is published.
            channel = CHANNEL_PREFIX + str(visit_id)
            assert eventually(lambda: dict(redis_client.pubsub_numsub(channel))[channel] == 2)
            _post(two, host, "Running 5 minutes late", "waiting")
            assert _next(waiting, "waiting-message")["body"] == "Running 5 minutes late"
            two.post(f"/v1/visit-session/participants/{me}/admit", headers=_h(host))
            _next(waiting, "admitted")
            waiting.send_json({"type": "chat", "body": "Hello from the first server"})
            assert _next(clinician, "chat")["body"] == "Hello from the first server"
            assert _next(waiting, "chat")["body"] == "Hello from the first server"  # the echo
            clinician.send_json({"type": "chat", "body": "Hello from the second"})
            assert _next(waiting, "chat")["body"] == "Hello from the second"
