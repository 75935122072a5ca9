"""Pure ASGI middleware: request ids, security headers, no-store for PHI, request log lines."""

from __future__ import annotations

import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telehealth.logging import get_logger

_REQUEST_ID = re.compile(r"^[A-Za-z0-9\-]{8,64}$")
log = get_logger("telehealth.request")

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self' ws: wss:; script-src 'self'; style-src 'self'; "
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
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

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
            route = scope.get("route")
            log.info(
                "request",
                method=scope["method"],
                route=getattr(route, "path", "unmatched"),
                status=status_holder.get("status", 500),
                ms=round((time.perf_counter() - started) * 1000, 2),
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
