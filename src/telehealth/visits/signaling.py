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
    # True while messages reach only this instance's sockets (Redis is unreachable).
    degraded: bool

    async def join(self, visit_id: str, deliver: Deliver) -> None: ...

    async def leave(self, visit_id: str, deliver: Deliver) -> None: ...

    async def publish(self, visit_id: str, message: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class InProcessHub:
    # One process needs no other service: its signaling cannot degrade.
    degraded = False

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

    def broadcast(self, message: dict[str, Any]) -> None:
        """Delivers ``message`` to every room on this instance."""
        for visit_id in self.rooms():
            self.dispatch(visit_id, message)

    def rooms(self) -> list[str]:
        return list(self._rooms)


# Control events a hub sends to its own subscribers when Redis goes away and comes back; the
# relay tells the clients (``{"type": "signaling", "state": "degraded" | "ok"}``).
DEGRADED = {"kind": "control", "event": "signaling-degraded"}
RESTORED = {"kind": "control", "event": "signaling-restored"}
# Seconds between attempts to reach Redis again, doubling up to the cap.
RECONNECT_FIRST = 0.1
RECONNECT_MAX = 5.0


def _redis_errors() -> tuple[type[Exception], ...]:
    """Redis errors that mean "unreachable": refused, reset, timed out."""
    import redis.exceptions

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class RedisHub:
    """Pub/sub over Redis: every instance subscribes to the channels of the visits it serves.

    While Redis is unreachable the hub keeps serving the sockets it holds: a publish is
    delivered to this instance's subscribers directly (a visit whose participants are all on
    one instance goes on), every local subscriber is told the signaling is degraded, and the
    outage is logged. The listener reconnects with back-off, subscribes again to every visit
    this instance serves, and tells the subscribers signaling is restored. Messages published
    on other instances during the outage are lost.
    """

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis_asyncio

        self._redis = redis_asyncio.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._local = InProcessHub()
        self._listener: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._errors = _redis_errors()
        self.degraded = False

    async def join(self, visit_id: str, deliver: Deliver) -> None:
        async with self._lock:
            if self._local.add(visit_id, deliver) and not self.degraded:
                try:
                    await self._pubsub.subscribe(CHANNEL_PREFIX + visit_id)
                except self._errors as exc:
                    # Subscribed again with every other room once Redis is back.
                    self._lost(exc)
            self._ensure_listener()

    async def leave(self, visit_id: str, deliver: Deliver) -> None:
        async with self._lock:
            if self._local.discard(visit_id, deliver) and not self.degraded:
                with contextlib.suppress(*self._errors):
                    await self._pubsub.unsubscribe(CHANNEL_PREFIX + visit_id)

    async def publish(self, visit_id: str, message: dict[str, Any]) -> None:
        if not self.degraded:
            try:
                await self._redis.publish(CHANNEL_PREFIX + visit_id, json.dumps(message))
                return
            except self._errors as exc:
                self._lost(exc)
        # Redis echoes a message to this instance's own subscribers; without it, deliver here.
        self._local.dispatch(visit_id, message)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        with contextlib.suppress(*self._errors):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        with contextlib.suppress(*self._errors):
            await self._redis.aclose()

    def _ensure_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    def _lost(self, exc: Exception) -> None:
        if self.degraded:
            return
        self.degraded = True
        log.error("signaling_redis_unavailable", error=type(exc).__name__)
        self._local.broadcast(DEGRADED)
        self._ensure_listener()  # it reconnects, even on an instance serving no socket

    async def _listen(self) -> None:
        while True:
            if self.degraded:
                await self._reconnect()
                continue
            if not self._pubsub.subscribed:
                await asyncio.sleep(0.05)
                continue
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=1.0
                )
            except self._errors as exc:
                self._lost(exc)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            name = channel.decode() if isinstance(channel, bytes) else str(channel)
            try:
                payload = json.loads(message["data"])
            except ValueError:
                continue
            self._local.dispatch(name.removeprefix(CHANNEL_PREFIX), payload)

    async def _reconnect(self) -> None:
        """Until Redis answers: a fresh subscription to every room this instance serves."""
        delay = RECONNECT_FIRST
        while True:
            await asyncio.sleep(delay)
            async with self._lock:
                try:
                    await self._resubscribe()
                except self._errors:
                    delay = min(delay * 2, RECONNECT_MAX)
                    continue
                self.degraded = False
            log.info("signaling_redis_restored")
            self._local.broadcast(RESTORED)
            return

    async def _resubscribe(self) -> None:
        with contextlib.suppress(*self._errors):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await self._redis.ping()
        rooms = self._local.rooms()
        if rooms:
            await self._pubsub.subscribe(*(CHANNEL_PREFIX + room for room in rooms))


def make_hub(redis_url: str | None) -> SignalingHub:
    return RedisHub(redis_url) if redis_url else InProcessHub()
