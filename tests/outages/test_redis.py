"""Redis stopped and started again under the signaling hub (a throwaway redis-server, never the
machine's shared one): the outage is reported to the sockets and in the log, a visit served by
one instance goes on, and messages cross instances again once Redis is back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.visits.signaling import DEGRADED, RESTORED, RedisHub
from tests.outages.services import ThrowawayRedis
from tests.support import World
from tests.visits.support import book, link_for, services_of
from tests.visits.test_signaling import SECURE_OFFER, _h, _ready, joined

RELAY = {"kind": "relay", "from": "a", "payload": "offer"}


@pytest.fixture
def redis_server() -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _until(inbox: list[dict[str, Any]], wanted: dict[str, Any]) -> None:
    async with asyncio.timeout(30):
        while wanted not in inbox:
            await asyncio.sleep(0.02)


async def _published_until_received(
    hub: RedisHub, visit: str, inbox: list[dict[str, Any]], message: dict[str, Any]
) -> None:
    """Publishes until ``inbox`` has the message: a subscription reaches the server a moment
    after the subscribe call returns."""
    async with asyncio.timeout(30):
        while message not in inbox:
            await hub.publish(visit, message)
            await asyncio.sleep(0.1)


async def test_hubs_report_the_outage_keep_local_delivery_and_resume_across_instances(
    redis_server: ThrowawayRedis, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = RedisHub(redis_server.url), RedisHub(redis_server.url)
    visit = uuid.uuid4().hex
    on_first: list[dict[str, Any]] = []
    on_second: list[dict[str, Any]] = []
    try:
        await first.join(visit, on_first.append)
        await second.join(visit, on_second.append)
        await _published_until_received(first, visit, on_second, RELAY)

        redis_server.stop()
        local = {**RELAY, "payload": "during the outage"}
        await first.publish(visit, local)  # no error: this instance's sockets still get it
        assert on_first[-2:] == [DEGRADED, local]
        await _until(on_second, DEGRADED)  # the other instance notices on its own
        assert first.degraded
        assert second.degraded
        assert local not in on_second  # lost across instances, as documented

        redis_server.start()
        await _until(on_first, RESTORED)
        await _until(on_second, RESTORED)
        assert not first.degraded
        assert not second.degraded
        after = {**RELAY, "payload": "after the outage"}
        await first.publish(visit, after)
        await _until(on_second, after)
        await _until(on_first, after)
    finally:
        await first.close()
        await second.close()
    logged = capsys.readouterr().out
    assert "signaling_redis_unavailable" in logged
    assert "signaling_redis_restored" in logged


def _next(ws: WebSocketTestSession, kind: str) -> dict[str, Any]:
    """The next message of type ``kind``, skipping others."""
    while True:
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == kind:
            return message


@pytest.fixture
def redis_app(
    settings: Settings, clock: FrozenClock, redis_server: ThrowawayRedis
) -> Iterator[FastAPI]:
    application = create_app(
        settings.model_copy(update={"redis_url": redis_server.url}), clock=clock
    )
    yield application
    application.state.services.engine.dispose()


@pytest.mark.db
def test_a_visit_on_one_instance_goes_on_and_its_sockets_hear_of_the_outage(
    redis_app: FastAPI, world: World, redis_server: ThrowawayRedis
) -> None:
    services = services_of(redis_app)
    visit_id = book(services, world)
    patient = link_for(services, visit_id, world["patient_a"].user_id)
    clinician = link_for(services, visit_id, world["clinician_a"].user_id)
    with TestClient(redis_app) as client:
        me = _ready(client, patient, clinician)
        with joined(client, clinician) as (host, welcome), joined(client, patient) as (guest, _):
            assert welcome["signaling"] == "ok"
            admitted = client.post(
                f"/v1/visit-session/participants/{me}/admit", headers=_h(clinician)
            )
            assert admitted.status_code == 200
            _next(guest, "admitted")
            _next(host, "peer-joined")

            redis_server.stop()
            host.send_json({"type": "offer", "to": me, "sdp": SECURE_OFFER})
            assert _next(host, "signaling") == {"type": "signaling", "state": "degraded"}
            assert _next(guest, "signaling") == {"type": "signaling", "state": "degraded"}
            assert _next(guest, "offer")["sdp"] == SECURE_OFFER  # relayed on this instance
            # The patient reloads during the outage: the new socket hears of it at once and
            # replaces the old one (closed with 4409), on this instance without Redis.
            with joined(client, patient) as (late, late_welcome):
                assert late_welcome["signaling"] == "degraded"
                with pytest.raises(WebSocketDisconnect) as replaced:
                    _next(guest, "never")
                assert replaced.value.code == 4409

                redis_server.start()
                assert _next(host, "signaling") == {"type": "signaling", "state": "ok"}
                assert _next(late, "signaling") == {"type": "signaling", "state": "ok"}
                host.send_json({"type": "offer", "to": me, "sdp": SECURE_OFFER})
                assert _next(late, "offer")["sdp"] == SECURE_OFFER  # through Redis again
