"""The signaling hub: how a message for one visit reaches every app instance that holds one of
that visit's sockets.

:class:`InProcessHub` serves a single instance; :class:`RedisHub` fans out over Redis pub/sub
(one channel per visit) when ``TELEHEALTH_REDIS_URL`` is set, so several instances can serve
one visit. Subscribers are plain callables that must not block: each socket enqueues and
writes on its own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any, Protocol

from telehealth.logging import get_logger

log = get_logger("telehealth.visits.signaling")

Deliver = Callable[[dict[str, Any]], None]
CHANNEL_PREFIX = "telehealth:visit:"


class SignalingHub(Protocol):
    async def join(self, visit_id: str, deliver: Deliver) -> None: ...

    async def leave(self, visit_id: str, deliver: Deliver) -> None: ...

    async def publish(self, visit_id: str, message: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class InProcessHub:
    def __init__(self) -> None:
        self._rooms: dict[str, list[Deliver]] = {}

    async def join(self, visit_id: str, deliver: Deliver) -> None:
        self.add(visit_id, deliver)

    async def leave(self, visit_id: str, deliver: Deliver) -> None:
        self.discard(visit_id, deliver)

    async def publish(self, visit_id: str, message: dict[str, Any]) -> None:
        self.dispatch(visit_id, message)

    async def close(self) -> None:
        self._rooms.clear()

    def add(self, visit_id: str, deliver: Deliver) -> bool:
        """Adds a subscriber; True when it is the room's first on this instance."""
        room = self._rooms.setdefault(visit_id, [])
        room.append(deliver)
        return len(room) == 1

    def discard(self, visit_id: str, deliver: Deliver) -> bool:
        """Removes a subscriber; True when the room is now empty on this instance."""
        room = self._rooms.get(visit_id)
        if room is None:
            return False
        with contextlib.suppress(ValueError):
            room.remove(deliver)
        if not room:
            del self._rooms[visit_id]
            return True
        return False

    def dispatch(self, visit_id: str, message: dict[str, Any]) -> None:
        for deliver in list(self._rooms.get(visit_id, ())):
            try:
                deliver(message)
            except Exception:  # one broken subscriber must not starve the others
                log.exception("signal_delivery_failed")


class RedisHub:
    """Pub/sub over Redis: every instance subscribes to the channels of the visits it serves."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis_asyncio

        self._redis = redis_asyncio.Redis.from_url(url)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._local = InProcessHub()
        self._listener: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def join(self, visit_id: str, deliver: Deliver) -> None:
        async with self._lock:
            if self._local.add(visit_id, deliver):
                await self._pubsub.subscribe(CHANNEL_PREFIX + visit_id)
            if self._listener is None or self._listener.done():
                self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def leave(self, visit_id: str, deliver: Deliver) -> None:
        async with self._lock:
            if self._local.discard(visit_id, deliver):
                await self._pubsub.unsubscribe(CHANNEL_PREFIX + visit_id)

    async def publish(self, visit_id: str, message: dict[str, Any]) -> None:
        await self._redis.publish(CHANNEL_PREFIX + visit_id, json.dumps(message))

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._redis.aclose()

    async def _listen(self) -> None:
        while True:
            if not self._pubsub.subscribed:
                await asyncio.sleep(0.05)
                continue
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            name = channel.decode() if isinstance(channel, bytes) else str(channel)
            try:
                payload = json.loads(message["data"])
            except ValueError:
                continue
            self._local.dispatch(name.removeprefix(CHANNEL_PREFIX), payload)


def make_hub(redis_url: str | None) -> SignalingHub:
    return RedisHub(redis_url) if redis_url else InProcessHub()
