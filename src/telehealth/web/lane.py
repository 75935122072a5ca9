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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from telehealth.errors import DomainError
from telehealth.logging import get_logger
from telehealth.web.problems import problem
from telehealth.web.scoped import Services

log = get_logger("telehealth.web")

LaneHandler = Callable[[Request, Services, Mapping[str, str]], Awaitable[Response | None]]


@dataclass(frozen=True)
class Lane:
    method: str
    path: str  # the route's path template, e.g. "/v1/patients/{patient_id}"
    handler: LaneHandler


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
                if match is None:
                    continue
                request = Request(scope, receive)
                response = await self._answer(lane, request, match.groupdict())
                if response is not None:
                    scope["route"] = lane
                    await response(scope, receive, send)
                    return
                break
        await self.app(scope, receive, send)

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
