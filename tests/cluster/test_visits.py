"""A visit across instances: the patient's page on instance a, the clinician's on b, both
decoding video; a is killed -9, the patient's page reconnects through another instance and
video resumes; the session record shows the patient's two sockets and the gap between them,
closed at the lost socket's last heartbeat."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from telehealth.clock import ensure_utc
from telehealth.visits import repository
from tests.browser import chromium, eventually, frames_decoded, need_browser
from tests.cluster import topology
from tests.portal.live import ARTIFACTS, shot
from tests.support import World
from tests.visits.live import Live, enter_call, first_frames, peers_decoding
from tests.visits.support import acting, services_of

RECONNECTING = "window.__visit.trace.some((t) => t[0] === 'status:Reconnecting…')"


class PinnedBrowser:
    """Chromium whose next contexts are pinned, in order, to the instances named: the
    helpers of tests/visits/live.py open the patient's context first, then the clinician's."""

    def __init__(self, browser: Any, pins: list[str]) -> None:
        self._browser = browser
        self._pins = list(pins)

    def new_context(self, **options: Any) -> Any:
        # The cluster's certificate is self-signed; Chromium is told to accept it.
        context = self._browser.new_context(ignore_https_errors=True, **options)
        pin = self._pins.pop(0)
        context.add_cookies(
            [{"name": topology.PIN_COOKIE, "value": pin, "url": topology.PUBLIC_URL}]
        )
        return context


@pytest.fixture
def browser() -> Iterator[Any]:
    need_browser()
    with chromium() as launched:
        yield launched


def _instance_of(page: Any) -> str:
    """Which instance answers this page's requests now (HAProxy names it)."""
    response = page.request.get(f"{topology.PUBLIC_URL}/healthz")
    return str(response.headers.get("x-cluster-server", ""))


def _session(world: World, visit_id: object) -> dict[str, Any]:
    record = httpx.get(
        f"{topology.PUBLIC_URL}/v1/visits/{visit_id}",
        headers=world["clinician_a"].headers,
        timeout=30,
    )
    assert record.status_code == 200, record.text
    session: dict[str, Any] = record.json()["session"]
    return session


def _presence(world: World, visit_id: object, participant: str) -> list[dict[str, Any]]:
    return [e for e in _session(world, visit_id)["presence"] if e["participant_id"] == participant]


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["at"])


def _last_seen(app: FastAPI, connection: str) -> datetime:
    """The last heartbeat of an open socket's join, as the presence sweep reads it."""
    with acting(services_of(app), None) as scope:
        join = repository.open_join(scope.session, connection)
        assert join is not None
        assert join.last_seen is not None
        return ensure_utc(join.last_seen)


def _gaps(world: World, visit_id: object, participant: str) -> list[dict[str, Any]]:
    return [g for g in _session(world, visit_id)["gaps"] if g["participant_id"] == participant]


def test_killing_the_patients_instance_mid_call(
    browser: Any, world: World, cluster_app: FastAPI
) -> None:
    live = Live(topology.PUBLIC_URL, cluster_app, world)
    visit_id, patient_token, clinician_token = live.book_now()
    pinned = PinnedBrowser(browser, ["a", "b"])
    patient, clinician, errors = enter_call(pinned, live, patient_token, clinician_token)
    assert (_instance_of(patient), _instance_of(clinician)) == ("a", "b")
    assert eventually(lambda: frames_decoded(patient) > 10 and frames_decoded(clinician) > 10)
    me = str(patient.evaluate("window.__visit.me"))
    seen = (first_frames(patient), first_frames(clinician))
    joins_before = [e for e in _presence(world, visit_id, me) if e["kind"] == "join"]
    lost = joins_before[-1]["connection"]
    # a beats for the patient's socket: its join is seen later than it was written.
    assert eventually(lambda: _last_seen(cluster_app, lost) > _at(joins_before[-1]), seconds=30)

    topology.kill_instance("a")

    # The patient's socket is gone with a: the page says so, reconnects through another
    # instance, and the two peers connect again and decode video.
    assert eventually(lambda: patient.evaluate(RECONNECTING) is True, seconds=30)
    assert eventually(
        lambda: (
            first_frames(patient) > seen[0]
            and first_frames(clinician) > seen[1]
            and peers_decoding(patient) == 1
            and peers_decoding(clinician) == 1
        ),
        seconds=60,
    )
    patient.wait_for_selector("#call-status:has-text('Connected.')")
    assert _instance_of(patient) in ("b", "c")
    frames = frames_decoded(patient)
    assert eventually(lambda: frames_decoded(patient) > frames + 10)

    # The record: the patient's first socket joined on a; the new socket's join came after,
    # through another instance.
    joins = [e for e in _presence(world, visit_id, me) if e["kind"] == "join"]
    assert len(joins) == len(joins_before) + 1
    first, second = (_at(e) for e in (joins_before[-1], joins[-1]))
    assert second > first
    # a died with the first socket and never wrote its leave; its heartbeats stopped, and the
    # presence sweep of a surviving instance writes the leave at the last one: the record
    # shows the gap, from then to the new socket's join.
    assert lost != joins[-1]["connection"]
    assert eventually(lambda: len(_gaps(world, visit_id, me)) == 1, seconds=120)
    leaves = [e for e in _presence(world, visit_id, me) if e["connection"] == lost]
    assert sorted(e["kind"] for e in leaves) == ["join", "leave"]
    [left] = [_at(e) for e in leaves if e["kind"] == "leave"]
    # At a's last heartbeat: after the join (a beat at least once), before the new socket.
    assert first < left < second
    [gap] = _gaps(world, visit_id, me)
    assert (datetime.fromisoformat(gap["start"]), datetime.fromisoformat(gap["end"])) == (
        left,
        second,
    )
    assert gap["role"] == "patient"
    assert gap["seconds"] == int((second - left).total_seconds())
    page = httpx.get(
        f"{topology.PUBLIC_URL}/visits/{visit_id}",
        headers=world["clinician_a"].headers,
        timeout=30,
    )
    assert page.status_code == 200
    assert f'disconnected <time datetime="{left.isoformat(timespec="seconds")}"' in page.text
    # The clinician reads it on the visit's record page, in the browser.
    reader = browser.new_context(
        ignore_https_errors=True,
        viewport={"width": 1280, "height": 900},
        extra_http_headers=world["clinician_a"].headers,
    )
    record = reader.new_page()
    record.goto(f"{topology.PUBLIC_URL}/visits/{visit_id}")
    gap_line = record.locator("#presence-gaps li")
    assert gap_line.count() == 1
    assert "disconnected" in gap_line.inner_text()
    shot(record, "visit-record-disconnection", ARTIFACTS.parent / "cluster")
    reader.close()
    assert errors == []
