"""The Redis signaling hub: two hub instances (two app instances) serve one visit."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import pytest

from telehealth.visits.signaling import InProcessHub, RedisHub

REDIS_URL = os.environ.get("TELEHEALTH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def _redis_or_skip() -> None:
    import redis.asyncio as redis_asyncio

    client = redis_asyncio.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except OSError:
        if os.environ.get("CI"):
            pytest.fail("Redis is required in CI")
        pytest.skip("Redis is not reachable")
    finally:
        await client.aclose()


async def _until(inbox: list[dict[str, Any]], count: int) -> None:
    async with asyncio.timeout(10):
        while len(inbox) < count:
            await asyncio.sleep(0.01)


async def test_messages_cross_instances_only_within_their_visit() -> None:
    await _redis_or_skip()
    first, second = RedisHub(REDIS_URL), RedisHub(REDIS_URL)
    visit, other = uuid.uuid4().hex, uuid.uuid4().hex
    on_first: list[dict[str, Any]] = []
    on_second: list[dict[str, Any]] = []
    elsewhere: list[dict[str, Any]] = []
    try:
        await first.join(visit, on_first.append)
        await second.join(visit, on_second.append)
        await second.join(other, elsewhere.append)
        await asyncio.sleep(0.2)  # let both subscriptions reach the server
        await first.publish(visit, {"kind": "relay", "from": "a", "payload": "offer"})
        await _until(on_second, 1)
        await _until(on_first, 1)
        assert on_second == [{"kind": "relay", "from": "a", "payload": "offer"}]
        await second.publish(other, {"kind": "control", "event": "ended"})
        await _until(elsewhere, 1)
        await second.leave(visit, on_second.append)
        await first.publish(visit, {"kind": "relay", "from": "a", "payload": "again"})
        await _until(on_first, 2)
        assert on_second == [{"kind": "relay", "from": "a", "payload": "offer"}]
        assert on_first[-1]["payload"] == "again"
        assert [m["event"] for m in elsewhere] == ["ended"]
    finally:
        await first.close()
        await second.close()


async def test_in_process_hub_delivers_to_its_room_only() -> None:
    hub = InProcessHub()
    room: list[dict[str, Any]] = []
    other: list[dict[str, Any]] = []
    await hub.join("v1", room.append)
    await hub.join("v2", other.append)
    await hub.publish("v1", {"kind": "relay"})
    await hub.leave("v1", room.append)
    await hub.publish("v1", {"kind": "relay"})
    assert room == [{"kind": "relay"}]
    assert other == []
