"""Presence by socket: every join and leave names its signaling socket, each instance beats for
the sockets it holds, and a socket whose instance died is closed at its last heartbeat -- by
the presence sweep, or at once by the participant's next join -- so the session record shows
the gap (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from telehealth.clock import FrozenClock
from telehealth.config import Settings, VisitSettings
from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.jobs import JobRunner, registered
from telehealth.visits import repository, session_record
from telehealth.visits.model import PresenceKind
from tests.support import World
from tests.visits.support import acting, book, services_of, start
from tests.visits.test_rejoin import admitted_call
from tests.visits.test_signaling import _sync, joined

pytestmark = pytest.mark.db

SWEEP = "visits.presence_sweep"
JOIN, LEAVE = PresenceKind.JOIN, PresenceKind.LEAVE


@pytest.fixture
def call(app: FastAPI, world: World) -> dict[str, Any]:
    """A visit of patient A in its call: the participants' ids by role."""
    services = services_of(app)
    visit_id = book(services, world)
    start(services, world, visit_id)
    with acting(services, None) as scope:
        people = {p.role: p.id for p in repository.participants_of(scope.session, visit_id)}
    return {"id": visit_id, **people}


def _presence(
    app: FastAPI, call: dict[str, Any], kind: PresenceKind
) -> list[tuple[str | None, Any]]:
    """The patient's joins or leaves: (socket, time)."""
    with acting(services_of(app), None) as scope:
        rows = repository.presence_of(scope.session, call["id"])
        return [
            (r.connection_id, r.at)
            for r in rows
            if r.participant_id == call["patient"] and r.kind == kind.value
        ]


def _record(app: FastAPI, call: dict[str, Any]) -> dict[str, Any]:
    with acting(services_of(app), None) as scope:
        visit = repository.visit_by_id(scope.session, call["id"])
        assert visit is not None
        return session_record.session_record(scope, visit)


def _presence_event(app: FastAPI, call: dict[str, Any], kind: PresenceKind, conn: str) -> None:
    with acting(services_of(app), None) as scope:
        session_record.record_presence(scope, call["patient"], kind, conn)


def _beat(app: FastAPI, *conns: str) -> None:
    with acting(services_of(app), None) as scope:
        session_record.heartbeat(scope, list(conns))


def _sweep(app: FastAPI) -> int:
    with acting(services_of(app), None) as scope:
        return session_record.sweep_lost_sockets(scope)


def _stale(app: FastAPI) -> timedelta:
    return timedelta(seconds=services_of(app).visits.settings.presence_stale_seconds)


def test_the_sweep_writes_a_lost_sockets_leave_at_its_last_heartbeat(
    app: FastAPI, call: dict[str, Any], clock: FrozenClock
) -> None:
    _presence_event(app, call, JOIN, "p1")
    clock.advance(timedelta(seconds=5))
    _beat(app, "p1")
    last_seen = clock.now()
    # Within the stale window the socket counts as open, whatever the sweep.
    clock.advance(_stale(app) - timedelta(seconds=1))
    assert _sweep(app) == 0
    assert _presence(app, call, LEAVE) == []

    clock.advance(timedelta(seconds=30))
    assert _sweep(app) == 1
    assert _presence(app, call, LEAVE) == [("p1", last_seen)]
    # Written once: a second sweep, the socket's own late leave and a late heartbeat change
    # nothing.
    assert _sweep(app) == 0
    _presence_event(app, call, LEAVE, "p1")
    _beat(app, "p1")
    clock.advance(_stale(app) * 2)
    assert _sweep(app) == 0
    assert _presence(app, call, LEAVE) == [("p1", last_seen)]

    # The patient's next socket ends the gap.
    _presence_event(app, call, JOIN, "p2")
    [gap] = _record(app, call)["gaps"]
    assert (gap["participant_id"], gap["role"]) == (str(call["patient"]), "patient")
    assert (gap["start"], gap["end"]) == (last_seen, clock.now())
    assert gap["seconds"] == int((clock.now() - last_seen).total_seconds())


def test_a_beating_socket_is_never_swept(
    app: FastAPI, call: dict[str, Any], clock: FrozenClock
) -> None:
    _presence_event(app, call, JOIN, "p1")
    for _ in range(5):
        clock.advance(_stale(app) - timedelta(seconds=1))
        _beat(app, "p1")
        assert _sweep(app) == 0
    assert _presence(app, call, LEAVE) == []
    assert _record(app, call)["gaps"] == []


def test_the_next_join_closes_a_stale_socket_at_once(
    app: FastAPI, call: dict[str, Any], clock: FrozenClock
) -> None:
    """The rule for a participant's new socket: their other sockets whose heartbeat is stale
    are closed at their last heartbeat then; those still beating are left to close
    themselves (a second tab, a new network before the old one dropped)."""
    _presence_event(app, call, JOIN, "p1")
    joined_at = clock.now()
    clock.advance(_stale(app) + timedelta(seconds=11))
    _presence_event(app, call, JOIN, "p2")
    assert _presence(app, call, LEAVE) == [("p1", joined_at)]
    [gap] = _record(app, call)["gaps"]
    assert (gap["start"], gap["end"]) == (joined_at, clock.now())

    clock.advance(timedelta(seconds=3))
    _presence_event(app, call, JOIN, "p3")
    assert [conn for conn, _ in _presence(app, call, LEAVE)] == ["p1"]
    clock.advance(timedelta(seconds=2))
    _presence_event(app, call, LEAVE, "p2")
    assert [conn for conn, _ in _presence(app, call, LEAVE)] == ["p1", "p2"]
    assert len(_record(app, call)["gaps"]) == 1
    assert _sweep(app) == 0


def test_video_stops_with_the_last_open_socket(
    app: FastAPI, call: dict[str, Any], clock: FrozenClock
) -> None:
    _presence_event(app, call, JOIN, "p1")
    with acting(services_of(app), None) as scope:
        session_record.record_media(scope, call["patient"], True)
    clock.advance(timedelta(seconds=2))
    _presence_event(app, call, JOIN, "p2")
    _presence_event(app, call, LEAVE, "p1")
    with acting(services_of(app), None) as scope:
        participant = repository.participant_by_id(scope.session, call["patient"])
        assert participant is not None
        assert participant.video_active
    _presence_event(app, call, LEAVE, "p2")
    with acting(services_of(app), None) as scope:
        participant = repository.participant_by_id(scope.session, call["patient"])
        assert participant is not None
        assert not participant.video_active


def test_the_sweep_job_closes_a_socket_once_across_two_instances(
    app: FastAPI, call: dict[str, Any], clock: FrozenClock, settings: Settings
) -> None:
    _presence_event(app, call, JOIN, "p1")
    joined_at = clock.now()
    clock.advance(_stale(app) + timedelta(minutes=1))
    [job] = [j for j in registered() if j.name == SWEEP]
    engines = [make_engine(settings.effective_database_url) for _ in range(2)]
    try:
        ports = services_of(app).ports
        runners = [JobRunner(make_sessionmaker(e), ports, jobs=[job]) for e in engines]
        ran = [r for runner in runners for r in runner.run_due()]
        assert [(r.job, r.items) for r in ran] == [(SWEEP, 1)]
        clock.advance(job.interval(ports.settings))
        assert [r.items for runner in runners for r in runner.run_due()] == [0]
    finally:
        for engine in engines:
            engine.dispose()
    assert _presence(app, call, LEAVE) == [("p1", joined_at)]


def test_the_signaling_socket_names_its_presence_and_beats_while_open(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    services = services_of(app)
    admitted = admitted_call(app, client, world)
    visit_id, me = admitted["id"], admitted["me"]
    with joined(client, admitted["patient"]) as (ws, welcome):
        _sync(ws)
        assert services.visits.sockets.snapshot() == [welcome["conn"]]
        clock.advance(timedelta(seconds=7))
        _beat(app, *services.visits.sockets.snapshot())
        with acting(services, None) as scope:
            join = repository.open_join(scope.session, welcome["conn"])
            assert join is not None
            assert join.last_seen == clock.now()
    assert services.visits.sockets.snapshot() == []
    record = client.get(f"/v1/visits/{visit_id}", headers=world["clinician_a"].headers)
    mine = [e for e in record.json()["session"]["presence"] if e["participant_id"] == me]
    assert [(e["kind"], e["connection"]) for e in mine if e["kind"] in ("join", "leave")] == [
        ("join", welcome["conn"]),
        ("leave", welcome["conn"]),
    ]


def test_the_record_page_shows_the_gap_in_the_viewers_time(
    app: FastAPI, client: TestClient, world: World, call: dict[str, Any], clock: FrozenClock
) -> None:
    _presence_event(app, call, JOIN, "p1")
    lost_at = clock.now()
    # The instance holding p1 dies: no heartbeat after ``lost_at``.
    clock.advance(_stale(app) + timedelta(seconds=1))
    assert _sweep(app) == 1
    _presence_event(app, call, JOIN, "p2")
    page = client.get(f"/visits/{call['id']}", headers=world["clinician_a"].headers)
    assert page.status_code == 200
    gaps = re.search(r'<ul id="presence-gaps">(.*?)</ul>', page.text, re.S)
    assert gaps is not None
    seconds = int((clock.now() - lost_at).total_seconds())
    assert f'disconnected <time datetime="{_stamp(lost_at)}"' in gaps.group(1)
    assert f"({seconds} s)" in gaps.group(1)
    assert "(patient)" in gaps.group(1)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def test_the_stale_window_holds_two_heartbeats() -> None:
    with pytest.raises(ValidationError, match="two heartbeats"):
        VisitSettings(presence_heartbeat_seconds=10, presence_stale_seconds=19)
    settings = VisitSettings(presence_heartbeat_seconds=10, presence_stale_seconds=20)
    assert settings.presence_stale_seconds == 20
