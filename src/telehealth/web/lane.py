"""Fast lanes: a few hot endpoints answered ahead of the framework's routing when they can be.

A lane is an ordinary, documented API route (it is declared with the framework too, which
answers whenever the lane does not) plus a handler that serves the common case with as little
machinery as possible. A handler returns ``None`` to let the request continue to the route;
it never answers a refusal itself, so errors, their audit records and their shape come from
one place. Lanes sit inside the security middleware: request ids, security headers and the
request log line are the same for both. A lane that fails unexpectedly (the database is away,
say) also lets the route answer, so failures look the same on both paths.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telehealth.audit.model import Action, AuditEvent, Outcome
from telehealth.errors import DomainError
from telehealth.identity.model import Actor
from telehealth.logging import get_logger
from telehealth.web.middleware import declared_length
from telehealth.web.problems import problem
from telehealth.web.scoped import Services

log = get_logger("telehealth.web")

LaneHandler = Callable[[Request, Services, Mapping[str, str]], Awaitable[Response | None]]


@dataclass(frozen=True)
class Lane:
    method: str
    path: str  # the route's path template, e.g. "/v1/patients/{patient_id}"
    handler: LaneHandler
    # Lanes that read a body take only JSON bodies (``Content-Type: application/json``) of a
    # declared length up to this size; the body is then replayed to the route if the lane lets
    # it answer. Any other body is the route's to answer, or to refuse.
    max_body: int | None = None


class FastLanes:
    def __init__(self, app: ASGIApp, *, services: Services, lanes: Sequence[Lane]) -> None:
        self.app = app
        self._services = services
        self._lanes: list[tuple[Lane, re.Pattern[str]]] = [
            (lane, compile_path(lane.path)[0]) for lane in lanes
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for lane, pattern in self._lanes:
                if scope["method"] != lane.method:
                    continue
                match = pattern.match(scope["path"])
                if match is not None:
                    remaining = await self._try(lane, match.groupdict(), scope, receive, send)
                    if remaining is None:
                        return
                    receive = remaining
                break
        await self.app(scope, receive, send)

    async def _try(
        self, lane: Lane, params: Mapping[str, str], scope: Scope, receive: Receive, send: Send
    ) -> Receive | None:
        """Lets the lane answer; returns None if it did, else the channel the route must read
        the request from (replaying the body the lane read)."""
        body = None
        if lane.max_body is not None:
            if not _is_json(scope):
                return receive
            body = await _bounded_body(scope, receive, lane.max_body)
            if body is None:
                return receive
        request = Request(scope, receive if body is None else _replay(body, receive))
        response = await self._answer(lane, request, params)
        if response is None:
            return receive if body is None else _replay(body, receive)
        scope["route"] = lane
        await response(scope, receive, send)
        return None

    async def _answer(
        self, lane: Lane, request: Request, params: Mapping[str, str]
    ) -> Response | None:
        try:
            return await lane.handler(request, self._services, params)
        except DomainError as exc:
            return problem(exc.code, exc.message, request)
        except Exception:
            log.warning("lane_failed", route=lane.path, exc_info=True)
            return None


def _is_json(scope: Scope) -> bool:
    """Whether the request declares a JSON body: ``application/json``, parameters aside."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json"
    return False


async def _bounded_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole body if its declared length is within ``limit``; None (nothing read) if not."""
    declared = declared_length(scope)
    if declared is None or declared > limit:
        return None
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that gives ``body`` once, then whatever the client sends next."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def lane_event(
    request: Request,
    actor: Actor,
    at: datetime,
    action: Action,
    object_type: str,
    object_id: object,
    *,
    patient_id: uuid.UUID | None = None,
    detail: Mapping[str, str | int | bool] | None = None,
) -> AuditEvent:
    """The audit event of a lane's answer, with the request context a request's audit trail
    records (see :class:`telehealth.audit.trail.AuditTrail`)."""
    return AuditEvent(
        at=at,
        action=action,
        outcome=Outcome.SUCCESS,
        object_type=object_type,
        object_id=str(object_id),
        actor_id=actor.user_id,
        actor_role=actor.role.value,
        org_id=actor.org_id,
        patient_id=patient_id,
        source_ip=request.client.host if request.client else None,
        request_id=getattr(request.state, "request_id", None),
        detail=dict(detail or {}),
    )
