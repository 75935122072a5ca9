"""One signaling socket: authenticate with a join token, then relay SDP and ICE between the
admitted participants of one visit, and turn media statistics into the session record.

The token arrives in the first message (``{"type": "auth", "token": ...}``) or as a
``Sec-WebSocket-Protocol`` value next to ``telehealth.visit.v1`` -- never in the URL, which
servers and proxies log. Every refusal looks the same: an ``error`` message and close code
4401, whether the visit exists or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from telehealth.clock import Clock
from telehealth.errors import DomainError
from telehealth.logging import get_logger
from telehealth.ports import Ports
from telehealth.scope import open_scope
from telehealth.visits import links, messages, model, session_record
from telehealth.visits.model import MessageAudience, ParticipantState, PresenceKind
from telehealth.visits.runtime import VisitsRuntime

log = get_logger("telehealth.visits.relay")

SUBPROTOCOL = "telehealth.visit.v1"
AUTH_TIMEOUT_SECONDS = 10.0
SEND_QUEUE = 512
CLOSE_UNAUTHORIZED = 4401
CLOSE_REMOVED = 4403
CLOSE_ENDED = 4000
CLOSE_SLOW = 4008
# A newer socket of the same participant authenticated (a reload, a new network, the link
# opened in another tab): the client must not reconnect, or two tabs would take turns.
CLOSE_SUPERSEDED = 4409
CLOSE_FLOOD = 4029
CLOSE_UNSUPPORTED = 1003  # a binary frame: the protocol is JSON text
CLOSE_BYE = 1000
# Closes after which the others are told otherwise (removed, ended) or need not be told
# (a newer socket of the same participant announced itself).
QUIET_CLOSES = {CLOSE_REMOVED, CLOSE_ENDED, CLOSE_SUPERSEDED}
# How long a socket closing on the server's initiative may take to send what is queued
# before its close code.
CLOSE_GRACE_SECONDS = 5.0
_CLOSE = object()
# The hub's outage events, as clients see them: while "degraded", messages reach only the
# participants connected to this instance (see docs/outages.md).
SIGNALING_STATES = {"signaling-degraded": "degraded", "signaling-restored": "ok"}


@dataclass(frozen=True)
class Authorized:
    visit_id: str
    participant_id: str
    role: str
    display_name: str
    admitted: bool


@dataclass(frozen=True)
class Backend:
    sessions: sessionmaker[Session]
    ports: Ports

    @property
    def clock(self) -> Clock:
        return self.ports.clock


def _scoped(backend: Backend, work: Any) -> Any:
    """``work`` in a transaction of its own; a refusal rolls it back and is raised."""
    scope = open_scope(backend.sessions, backend.ports, request_id=f"ws-{uuid.uuid4().hex[:12]}")
    try:
        result = work(scope)
        scope.uow.commit()
        return result
    except DomainError:
        scope.uow.rollback()
        raise
    finally:
        scope.uow.close()


def _run_scoped(backend: Backend, work: Any) -> Any:
    try:
        return _scoped(backend, work)
    except DomainError:
        return None


def authorize(backend: Backend, token: str | None, conn: str) -> Authorized | None:
    def work(scope: Any) -> Authorized:
        ctx = links.resolve_participant(scope, token)
        session_record.record_presence(scope, ctx.participant.id, PresenceKind.JOIN, conn)
        p = ctx.participant
        return Authorized(
            str(ctx.visit.id),
            str(p.id),
            p.role,
            p.display_name,
            p.state == ParticipantState.ADMITTED.value,
        )

    result: Authorized | None = _run_scoped(backend, work)
    return result


def _offered_token(ws: WebSocket) -> str | None:
    offered = [p.strip() for p in ws.scope.get("subprotocols", [])]
    tokens = [p for p in offered if p.startswith(model.TOKEN_PREFIX + "_")]
    return tokens[0] if tokens else None


async def _first_message_token(ws: WebSocket) -> str | None:
    try:
        raw = await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT_SECONDS)
        data = model.load_signal_json(raw)
    except (TimeoutError, DomainError, KeyError, WebSocketDisconnect):
        return None
    if isinstance(data, dict) and data.get("type") == "auth" and isinstance(data.get("token"), str):
        return str(data["token"])
    return None


async def serve(ws: WebSocket, runtime: VisitsRuntime, backend: Backend) -> None:
    offered = ws.scope.get("subprotocols", [])
    await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    runtime.bind_loop()
    token = _offered_token(ws) or await _first_message_token(ws)
    # Tells this socket apart from the participant's earlier and later ones, in the session
    # record and in the peers' view.
    conn = uuid.uuid4().hex[:16]
    # A missing token goes through the same path, so that refusal is audited like the others.
    who = await run_in_threadpool(authorize, backend, token, conn)
    if who is None:
        await _refuse(ws)
        return
    connection = Connection(ws, runtime, backend, who, conn)
    sockets = backend.ports.metrics.signaling_sockets
    sockets.inc()
    runtime.sockets.opened(conn)
    try:
        await connection.run()
    finally:
        runtime.sockets.closed(conn)
        sockets.dec()


async def keep_alive(runtime: VisitsRuntime, backend: Backend) -> None:
    """This instance's heartbeat: every few seconds, its open sockets are marked seen now. When
    the instance dies the heartbeats stop, and the sockets' leaves are written at the last one
    (``session_record.sweep_lost_sockets``). Runs until cancelled."""
    while True:
        await asyncio.sleep(runtime.settings.presence_heartbeat_seconds)
        open_now = runtime.sockets.snapshot()
        if not open_now:
            continue
        try:
            await run_in_threadpool(
                _scoped, backend, functools.partial(session_record.heartbeat, connections=open_now)
            )
        except Exception:
            # The database may be away for a while; the next beat tries again, and a socket
            # is taken for lost only after the stale window.
            log.exception("presence_heartbeat_failed")


async def _refuse(ws: WebSocket) -> None:
    with contextlib.suppress(Exception):
        await ws.send_text(
            json.dumps({"type": "error", "code": "token_invalid", "detail": links.INVALID_LINK})
        )
        await ws.close(CLOSE_UNAUTHORIZED)


class Connection:
    def __init__(
        self, ws: WebSocket, runtime: VisitsRuntime, backend: Backend, who: Authorized, conn: str
    ) -> None:
        self.ws = ws
        self.runtime = runtime
        self.backend = backend
        self.who = who
        self.me = who.participant_id
        # A peer-left of a socket that was already replaced must not tear down the call its
        # successor holds.
        self.conn = conn
        self.latest: dict[str, str] = {}
        self.admitted = who.admitted
        self.close_code: int | None = None
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=SEND_QUEUE)
        self.closing = False
        self.video_active: bool | None = None
        self.frames_sent: int | None = None
        self._allowance = float(runtime.settings.signal_messages_per_second)
        self._checked = time.monotonic()

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self) -> None:
        hub = self.runtime.hub
        await hub.join(self.who.visit_id, self.deliver)
        writer = asyncio.get_running_loop().create_task(self._write())
        try:
            self._send(
                {
                    "type": "welcome",
                    "id": self.me,
                    "conn": self.conn,
                    "role": self.who.role,
                    "state": "admitted" if self.admitted else "waiting",
                    "ice_servers": ice_servers(self.runtime, self.me, self.backend.clock),
                    "ice_transport_policy": self.runtime.settings.ice_transport_policy,
                    "signaling": "degraded" if hub.degraded else "ok",
                }
            )
            await self._announce()
            await self._read()
        finally:
            await self._finish(writer)

    async def _finish(self, writer: asyncio.Task[None]) -> None:
        # Runs also while this task is being cancelled (server shutdown, a client that
        # vanished): the leave is written first, in a worker thread that anyio waits for even
        # under cancellation, so it is never lost and never outlives the request.
        was_admitted = self.admitted and self.close_code not in QUIET_CLOSES
        # A close the server asked for (flood, binary frame, bye) is still in the queue: the
        # writer sends it once the leave is recorded, so the client learns why.
        close_queued = self.closing
        self.closing = True
        self.admitted = False
        if not close_queued:
            writer.cancel()
        with contextlib.suppress(Exception):
            await run_in_threadpool(self._left)
        hub = self.runtime.hub
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await hub.leave(self.who.visit_id, self.deliver)
            if was_admitted:
                await hub.publish(
                    self.who.visit_id,
                    {
                        "kind": "control",
                        "event": "peer-left",
                        "participant": self.me,
                        "conn": self.conn,
                        # The others keep a tile waiting for a lost peer, not for one who left.
                        "reason": "left" if self.close_code == CLOSE_BYE else "lost",
                    },
                )
            if close_queued:
                await asyncio.wait_for(writer, CLOSE_GRACE_SECONDS)
        writer.cancel()

    def _left(self) -> None:
        _run_scoped(
            self.backend,
            lambda scope: session_record.record_presence(
                scope, uuid.UUID(self.me), PresenceKind.LEAVE, self.conn
            ),
        )

    async def _write(self) -> None:
        while True:
            item = await self.queue.get()
            if isinstance(item, tuple):
                with contextlib.suppress(Exception):
                    await self.ws.close(item[1])
                return
            if self.ws.application_state is not WebSocketState.CONNECTED:
                return
            try:
                await self.ws.send_text(item)  # type: ignore[arg-type]
            except Exception:  # the peer went away; the reader sees the disconnect
                return

    def _send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message, default=str)
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self._close(CLOSE_SLOW)

    def _close(self, code: int) -> None:
        if self.closing:
            return
        self.closing = True
        self.close_code = code
        while True:
            try:
                self.queue.put_nowait(("close", code))
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()

    # -- inbound ----------------------------------------------------------------------------

    async def _read(self) -> None:
        while not self.closing:
            try:
                message = await self.ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            if not self._within_rate():
                self._close(CLOSE_FLOOD)
                return
            raw = message.get("text")
            if raw is None:
                self._close(CLOSE_UNSUPPORTED)
                return
            try:
                signal = model.parse_signal(raw)
            except DomainError as exc:
                self._send({"type": "error", "code": exc.code.value, "detail": exc.message})
                continue
            await self._handle(signal)

    def _within_rate(self) -> bool:
        rate = float(self.runtime.settings.signal_messages_per_second)
        now = time.monotonic()
        self._allowance = min(rate, self._allowance + (now - self._checked) * rate)
        self._checked = now
        if self._allowance < 1.0:
            return False
        self._allowance -= 1.0
        return True

    async def _handle(self, signal: model.Signal) -> None:
        if signal.kind in model.RELAYED:
            if not self.admitted:
                self._send(
                    {
                        "type": "error",
                        "code": "invalid_state",
                        "detail": "waiting participants cannot signal yet",
                    }
                )
                return
            # The answering side learns who offers only from the offer: it names its sender,
            # as a media state does, with what the server knows (a client cannot set it), as
            # is the sending socket (``conn``).
            sender = (
                {"display_name": self.who.display_name, "role": self.who.role}
                if signal.kind in ("offer", "media")
                else {}
            )
            payload = json.dumps(
                {**signal.body, **sender, "type": signal.kind, "from": self.me, "conn": self.conn}
            )
            await self.runtime.hub.publish(
                self.who.visit_id,
                {"kind": "relay", "from": self.me, "to": signal.to, "payload": payload},
            )
        elif signal.kind == "chat":
            await self._chat(str(signal.body["body"]))
        elif signal.kind == "stats":
            await self._stats(signal.body)
        elif signal.kind == "ping":
            self._send({"type": "pong"})
        elif signal.kind == "bye":
            self._close(CLOSE_BYE)

    async def _stats(self, body: dict[str, Any]) -> None:
        frames = int(body["video_frames_sent"])
        flowing = model.video_flowing(self.frames_sent, frames, bool(body["video_sending"]))
        self.frames_sent = frames
        if flowing == self.video_active or not self.admitted:
            return
        self.video_active = flowing
        me = uuid.UUID(self.me)
        await run_in_threadpool(
            _run_scoped, self.backend, lambda scope: session_record.record_media(scope, me, flowing)
        )

    async def _chat(self, body: str) -> None:
        """Stored first, then sent to everyone in the call, the writer included: the echo
        carries the id and time the server gave it."""
        me = uuid.UUID(self.me)

        def work(scope: Any) -> dict[str, Any]:
            ctx = links.participant_context(scope, me)
            return messages.post(scope, ctx, MessageAudience.CALL, body).event()

        try:
            event = await run_in_threadpool(_scoped, self.backend, work)
        except DomainError as exc:
            self._send({"type": "error", "code": exc.code.value, "detail": exc.message})
            return
        await self.runtime.hub.publish(
            self.who.visit_id, {"kind": "control", "event": "message", **event}
        )

    async def _announce(self) -> None:
        """Every socket announces itself: the participant's older sockets close, and when it is
        admitted the members in the call offer to it."""
        await self.runtime.hub.publish(
            self.who.visit_id,
            {
                "kind": "control",
                "event": "connected",
                "participant": self.me,
                "conn": self.conn,
                "admitted": self.admitted,
                "role": self.who.role,
                "display_name": self.who.display_name,
            },
        )

    # -- outbound (called by the hub; must not block) ----------------------------------------

    def deliver(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        if message.get("kind") == "relay":
            if (
                self.admitted
                and message.get("from") != self.me
                and message.get("to") in (None, self.me)
            ):
                self._send(message["payload"])
            return
        self._control(message)

    def _control(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        subject = message.get("participant")
        mine = subject == self.me
        if event == "connected" and mine and message.get("conn") != self.conn:
            self._close(CLOSE_SUPERSEDED)
        elif event == "connected" and not mine:
            self.latest[str(subject)] = str(message.get("conn"))
            if self.admitted and message.get("admitted"):
                self._send(_peer("peer-joined", message))
        elif event == "admitted" and mine and not self.admitted:
            # The members already in the call learn of the newcomer from this same event and
            # offer to it; the newcomer announces itself only when it connects later.
            self.admitted = True
            self._send({"type": "admitted"})
        elif event == "admitted" and not mine and self.admitted:
            self._send(_peer("peer-joined", message))
        elif event == "removed" and mine:
            self._send({"type": "removed"})
            self._close(CLOSE_REMOVED)
        elif event == "removed" and not mine and self.admitted:
            self._send({**_peer("peer-left", message), "reason": "removed"})
        elif event == "peer-left" and not mine and self.admitted:
            # Published when a socket closes, which may be after its successor announced
            # itself: only the participant's latest socket speaks for them.
            if self.latest.get(str(subject), message.get("conn")) == message.get("conn"):
                self._send({**_peer("peer-left", message), "reason": message.get("reason")})
        elif event == "ended":
            self._send({"type": "ended"})
            self._close(CLOSE_ENDED)
        elif event == "waiting" and self.who.role == model.ParticipantRole.CLINICIAN.value:
            self._send({"type": "waiting-room"})
        elif event == "message" and self._reads(message.get("audience")):
            self._send(message["payload"])
        elif event in SIGNALING_STATES:
            self._send({"type": "signaling", "state": SIGNALING_STATES[event]})

    def _reads(self, audience: object) -> bool:
        """The call's chat reaches those in the call; the clinician's word to the waiting room
        reaches those still waiting."""
        if audience == MessageAudience.CALL.value:
            return self.admitted
        return audience == MessageAudience.WAITING.value and not self.admitted


def _peer(kind: str, message: dict[str, Any]) -> dict[str, Any]:
    peer = {
        "type": kind,
        "id": message.get("participant"),
        "role": message.get("role"),
        "display_name": message.get("display_name"),
    }
    if "conn" in message:
        peer["conn"] = message["conn"]
    return peer


def ice_servers(runtime: VisitsRuntime, participant: str, clock: Clock) -> list[dict[str, Any]]:
    """Configured STUN/TURN servers, plus short-lived TURN credentials for this participant."""
    settings = runtime.settings
    servers = [dict(s) for s in settings.ice_servers]
    if settings.turn_secret is not None and settings.turn_urls:
        from datetime import timedelta

        username, credential = model.turn_credentials(
            settings.turn_secret.get_secret_value(),
            participant,
            clock.now(),
            timedelta(minutes=settings.turn_ttl_minutes),
        )
        servers.append(
            {"urls": list(settings.turn_urls), "username": username, "credential": credential}
        )
    return servers
