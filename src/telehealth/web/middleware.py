"""Pure ASGI middleware: request ids, security headers, no-store for PHI, request log lines,
and the request body limit."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Collection

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telehealth.errors import ErrorCode
from telehealth.logging import get_logger
from telehealth.metrics import UNMATCHED, Metrics
from telehealth.web.problems import problem

_REQUEST_ID = re.compile(r"^[A-Za-z0-9\-]{8,64}$")
log = get_logger("telehealth.request")

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self'; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(self), microphone=(self), geolocation=()"),
)
CSP_HEADER = (b"content-security-policy", CSP.encode())
NO_STORE = ((b"cache-control", b"no-store"), (b"pragma", b"no-cache"))
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool, metrics: Metrics | None = None) -> None:
        self.app = app
        self.hsts = hsts
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder: dict[str, int] = {}
        path: str = scope["path"]
        cacheable = path.startswith("/static/")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.extend(self._headers(request_id, names, cacheable))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            # The route's template, never the path: the path holds ids (see telehealth.metrics).
            route: str = getattr(scope.get("route"), "path", UNMATCHED)
            status = status_holder.get("status", 500)
            seconds = time.perf_counter() - started
            if self.metrics is not None:
                self.metrics.observe_request(scope["method"], route, status, seconds)
            log.info(
                "request",
                method=scope["method"],
                route=route,
                status=status,
                ms=round(seconds * 1000, 2),
                request_id=request_id,
            )

    def _headers(
        self, request_id: str, present: set[bytes], cacheable: bool
    ) -> list[tuple[bytes, bytes]]:
        headers = [(b"x-request-id", request_id.encode()), *ALWAYS]
        if b"content-security-policy" not in present:
            headers.append(CSP_HEADER)
        if not cacheable and b"cache-control" not in present:
            headers.extend(NO_STORE)
        if self.hsts:
            headers.append(HSTS)
        return headers


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _REQUEST_ID.match(candidate):
                return candidate
            break
    return os.urandom(16).hex()


class BodyLimit:
    """Refuses a request body larger than ``max_bytes`` with 413 before anything reads it: at
    once when its declared length is larger, else (a chunked body) as soon as the bytes that
    arrived pass the limit. Bodies are counted as they pass, never held here.

    Requests to ``unlimited`` (method, path prefix) pairs are let through: tus PATCH bodies,
    which stream to storage and are bounded by the upload's declared length.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, unlimited: Collection[tuple[str, str]] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.unlimited = tuple(unlimited)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_unlimited(scope):
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        refused = False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # The application sees a client that went away; the client gets the 413.
                    refused = True
                    await self._refuse(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, unless_refused)

    def _is_unlimited(self, scope: Scope) -> bool:
        method: str = scope["method"]
        path: str = scope["path"]
        return any(method == m and path.startswith(prefix) for m, prefix in self.unlimited)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"the request body is larger than {self.max_bytes} bytes",
            Request(scope),
        )
        # The rest of the body is not worth reading: the connection ends with this answer.
        response.headers["connection"] = "close"
        await response(scope, receive, send)


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, or None if it has none (or one that is not a number)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
