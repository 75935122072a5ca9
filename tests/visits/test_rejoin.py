"""Rejoining over the signaling socket: a participant's newer socket supersedes the older one,
a peer-left of a replaced socket is not passed on, a deliberate leave is told apart from a
lost connection, and presence keeps the gap (SQLite and PostgreSQL)."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.support import World
from tests.visits.support import book, link_for, services_of
from tests.visits.test_signaling import _h, _ready, _sync, eventually, joined

pytestmark = pytest.mark.db


@pytest.fixture
def call(app: FastAPI, client: TestClient, world: World) -> dict[str, Any]:
    return admitted_call(app, client, world)


def admitted_call(app: FastAPI, client: TestClient, world: World) -> dict[str, Any]:
    """A visit whose patient has been admitted: its id, both join tokens, the patient's id."""
    services = services_of(app)
    visit_id = book(services, world)
    patient = link_for(services, visit_id, world["patient_a"].user_id)
    clinician = link_for(services, visit_id, world["clinician_a"].user_id)
    me = _ready(client, patient, clinician)
    client.post(f"/v1/visit-session/participants/{me}/admit", headers=_h(clinician))
    return {"id": visit_id, "patient": patient, "clinician": clinician, "me": me}


def _sockets(client: TestClient, world: World, call: dict[str, Any]) -> dict[str, int]:
    """The patient's recorded joins and leaves (the test clock is frozen: counts, not order)."""
    record = client.get(f"/v1/visits/{call['id']}", headers=world["clinician_a"].headers)
    kinds = [
        e["kind"] for e in record.json()["session"]["presence"] if e["participant_id"] == call["me"]
    ]
    return {kind: kinds.count(kind) for kind in ("join", "leave")}


def test_a_newer_socket_supersedes_the_older_one_quietly(
    client: TestClient, world: World, call: dict[str, Any]
) -> None:
    with ExitStack() as stack:
        host, _ = stack.enter_context(joined(client, call["clinician"]))
        old_socket = ExitStack()
        old, first = old_socket.enter_context(joined(client, call["patient"]))
        assert host.receive_json() == {
            "type": "peer-joined",
            "id": call["me"],
            "conn": first["conn"],
            "role": "patient",
            "display_name": "CanaryA SecretA",
        }
        _new, second = stack.enter_context(joined(client, call["patient"]))
        assert second["state"] == "admitted"
        assert second["conn"] != first["conn"]
        with pytest.raises(WebSocketDisconnect) as closed:
            old.receive_json()
        assert closed.value.code == 4409
        old_socket.close()
        rejoined = host.receive_json()
        assert (rejoined["type"], rejoined["conn"]) == ("peer-joined", second["conn"])
        # The replaced socket's close is recorded and tells the others nothing.
        assert eventually(lambda: _sockets(client, world, call) == {"join": 2, "leave": 1})
        _sync(host)


def test_a_peer_left_of_a_replaced_socket_is_not_passed_on(
    app: FastAPI, client: TestClient, call: dict[str, Any]
) -> None:
    """The old socket's peer-left may be published after the new socket announced itself
    (another instance noticed the close late): the others keep the new connection."""
    runtime = services_of(app).visits
    with (
        joined(client, call["clinician"]) as (host, _),
        joined(client, call["patient"]) as (_patient, welcome),
    ):
        assert host.receive_json()["type"] == "peer-joined"
        for conn in ("0123456789abcdef", welcome["conn"]):
            runtime.control(
                call["id"], "peer-left", participant=call["me"], conn=conn, reason="lost"
            )
        left = host.receive_json()
        assert (left["type"], left["conn"], left["reason"]) == (
            "peer-left",
            welcome["conn"],
            "lost",
        )


def test_a_reload_is_a_lost_connection_then_a_join_and_presence_keeps_the_gap(
    client: TestClient, world: World, call: dict[str, Any]
) -> None:
    with joined(client, call["clinician"]) as (host, _):
        with joined(client, call["patient"]) as (_patient, first):
            assert host.receive_json()["conn"] == first["conn"]
        left = host.receive_json()
        assert (left["type"], left["conn"], left["reason"]) == ("peer-left", first["conn"], "lost")
        with joined(client, call["patient"]) as (_patient, second):
            assert host.receive_json()["conn"] == second["conn"]
            _sync(host)
    assert eventually(lambda: _sockets(client, world, call) == {"join": 2, "leave": 2})


def test_a_participant_who_says_bye_has_left(client: TestClient, call: dict[str, Any]) -> None:
    with joined(client, call["clinician"]) as (host, _):
        with joined(client, call["patient"]) as (patient, _welcome):
            host.receive_json()  # peer-joined
            patient.send_json({"type": "bye"})
            with pytest.raises(WebSocketDisconnect) as closed:
                patient.receive_json()
            assert closed.value.code == 1000
        left = host.receive_json()
        assert (left["type"], left["reason"]) == ("peer-left", "left")


def test_a_waiting_participant_is_not_offered_to_when_they_reconnect(
    client: TestClient, call: dict[str, Any]
) -> None:
    guest = client.post(
        "/v1/visit-session/participants",
        headers=_h(call["clinician"]),
        json={"role": "interpreter", "display_name": "Interpreter"},
    ).json()
    client.post("/v1/visit-session/waiting", headers=_h(guest["token"]))
    with joined(client, call["clinician"]) as (host, _):
        for _attempt in range(2):
            with joined(client, guest["token"]) as (_guest, welcome):
                assert welcome["state"] == "waiting"
        _sync(host)  # no peer-joined, no peer-left: the interpreter was never in the call
