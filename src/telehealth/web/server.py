"""The HTTP server a telehealth process runs: uvicorn with httptools, tuned for request bodies.

``telehealth serve`` runs :func:`serve`. Running the application under uvicorn directly works
too; ``--http telehealth.web.server:HttpProtocol`` (:data:`HTTP_PROTOCOL`) adds what this module
changes.

Receiving a large upload is mostly copying. The stock protocol receives each socket read as a
new bytes object (one copy), httptools hands the body out as another (two), and uvicorn gathers
it in a bytearray (three) that it copies again for the application (four), all on the event
loop's thread. Here the socket is read into one reused buffer and the body reaches the
application as httptools hands it out: one copy.

A request's head (request line and headers) is bounded here, before the application sees it:
httptools and uvicorn keep a head whole in memory, with no limit of their own, so a head larger
than ``Config.h11_max_incomplete_event_size`` (the bound uvicorn's h11 protocol applies;
``serve`` sets it from ``TELEHEALTH_MAX_HEADER_BYTES``) is answered 431 and the connection
closed.

Shutdown is uvicorn's graceful one, preceded by a drain (:class:`DrainingServer`): on SIGTERM
the server first keeps serving while ``/readyz`` answers 503, for
``TELEHEALTH_SHUTDOWN_DRAIN_SECONDS``, so that a load balancer's health checks take it out of
rotation; then uvicorn stops accepting, lets in-flight requests finish (a tus PATCH whose body
is still arriving included) for up to ``TELEHEALTH_SHUTDOWN_GRACE_SECONDS``, and closes
WebSockets with 1012 (service restart), after which visit pages reconnect, through the load
balancer, to another instance.
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import FrameType
from typing import Any, TypedDict

import uvicorn
from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from telehealth.config import Settings
from telehealth.errors import ErrorCode
from telehealth.logging import get_logger
from telehealth.web.problems import problem

# Bytes read from a socket at once. Larger reads mean fewer trips through the protocol for a
# large body; the buffer is shared by every connection on a thread, so its size is paid once.
READ_SIZE = 1024 * 1024

HTTP_PROTOCOL = "telehealth.web.server:HttpProtocol"

log = get_logger("telehealth.server")

_buffers = threading.local()

# The head limit of a server whose configuration sets none (uvicorn run by hand).
DEFAULT_MAX_HEAD: int = Settings.model_fields["max_header_bytes"].default


class HeadTooLarge(Exception):
    """Raised in a parser callback to stop parsing a request whose head is over the limit."""


def _read_buffer() -> memoryview:
    buffer: memoryview | None = getattr(_buffers, "read", None)
    if buffer is None:
        buffer = _buffers.read = memoryview(bytearray(READ_SIZE))
    return buffer


class BodyProtocol(HttpToolsProtocol):
    """httptools' protocol, passing each body piece on as the bytes httptools made of it, and
    refusing request heads over the limit.

    A piece that arrives while nothing is waiting is handed over as it is (uvicorn gives the
    application ``bytes(cycle.body)``, which for a bytes object is the object itself); only
    pieces that arrive before the application has taken the last are joined.

    A head is measured twice: the bytes received while it is unfinished (so that one huge
    header is stopped while it arrives, not once it is whole), and, exactly, its URL and
    headers once parsed.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_head: int = config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD
        self.head_open = True
        self.head_received = 0
        self.head_refused = False

    def data_received(self, data: bytes) -> None:
        if self.head_open:
            self.head_received += len(data)
        super().data_received(data)
        if self.head_open and self.head_received > self.max_head and not self.head_refused:
            self._refuse_head()

    def on_headers_complete(self) -> None:
        self.head_open = False
        size = len(self.url) + sum(len(name) + len(value) for name, value in self.headers)
        if size > self.max_head:
            self.head_refused = True
            raise HeadTooLarge
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.head_open = True
        self.head_received = 0

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers any parser error, a callback's exception included, with a 400.
        if self.head_refused:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    def _refuse_head(self) -> None:
        self.head_refused = True
        if self.transport.is_closing():
            return
        response = problem(
            ErrorCode.HEADERS_TOO_LARGE,
            f"the request line and headers are larger than {self.max_head} bytes",
        )
        head = [STATUS_LINE[response.status_code]]
        head.extend(name + b": " + value + b"\r\n" for name, value in response.raw_headers)
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + response.body)
        self.transport.close()

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        pending = cycle.body
        # bytes where the stock protocol keeps a bytearray; its receive() starts a new one.
        cycle.body = body if not pending else bytes(pending) + body  # type: ignore[assignment]
        if len(cycle.body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()


class HttpProtocol(asyncio.BufferedProtocol):
    """The connection's protocol: socket reads land in a buffer reused by every read on the
    thread, and :class:`BodyProtocol` parses them in place.

    The event loop calls ``get_buffer``, reads into it and calls ``buffer_updated`` in one go,
    and the parser copies out whatever it keeps, so one buffer per thread is never shared by
    two reads. The HTTP protocol itself stays uvicorn's: on a WebSocket upgrade it moves the
    transport to the WebSocket protocol, which then receives data the usual way.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.http = BodyProtocol(config, server_state, app_state, _loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.http.connection_made(transport)  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        self.http.connection_lost(exc)

    def eof_received(self) -> None:
        self.http.eof_received()

    def pause_writing(self) -> None:
        self.http.pause_writing()

    def resume_writing(self) -> None:
        self.http.resume_writing()

    def get_buffer(self, sizehint: int) -> memoryview:
        return _read_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.http.data_received(_read_buffer()[:nbytes])  # type: ignore[arg-type]


class Limits(TypedDict):
    h11_max_incomplete_event_size: int
    ws_max_size: int


def limits(settings: Settings) -> Limits:
    """uvicorn's options that bound what a client may make the server hold: a request's head
    (applied by :class:`BodyProtocol`) and a WebSocket message."""
    return Limits(
        h11_max_incomplete_event_size=settings.max_header_bytes,
        ws_max_size=settings.max_body_bytes,
    )


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining before its graceful shutdown.

    The first SIGTERM or SIGINT sets ``draining`` (``/readyz`` answers 503 from then on) and
    starts the drain; when it has lasted ``drain_seconds``, or at a second signal, uvicorn's
    own shutdown begins (a third SIGINT forces it, as in uvicorn).
    """

    def __init__(self, config: Config, *, draining: threading.Event, drain_seconds: float) -> None:
        super().__init__(config)
        self.draining = draining
        self.drain_seconds = drain_seconds
        self.drain_ends: float | None = None
        self.drain_logged = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.draining.set()
        if self.drain_ends is None and self.drain_seconds > 0 and not self.should_exit:
            self.drain_ends = time.monotonic() + self.drain_seconds
            # Re-raised once the server has stopped, as uvicorn does with the signals it caught.
            self._captured_signals.append(sig)
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_ends is not None:
            # Logged here rather than in the signal handler, which interrupts whatever runs.
            if not self.drain_logged:
                self.drain_logged = True
                log.info("draining", seconds=self.drain_seconds)
            if time.monotonic() >= self.drain_ends:
                self.should_exit = True
        return await super().on_tick(counter)


def server_config(app: Any, *, host: str, port: int, settings: Settings) -> Config:
    """How ``telehealth serve`` runs uvicorn; logging is the process's own
    (``configure_logging``)."""
    return Config(
        app,
        host=host,
        port=port,
        http=HTTP_PROTOCOL,
        access_log=False,
        proxy_headers=False,
        log_config=None,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        **limits(settings),
    )


def serve(
    app: Any,
    *,
    host: str,
    port: int,
    settings: Settings,
    draining: threading.Event | None = None,
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then drain and shut down gracefully;
    ``draining`` is set as the drain begins (the application's readiness reads it)."""
    server = DrainingServer(
        server_config(app, host=host, port=port, settings=settings),
        draining=draining or threading.Event(),
        drain_seconds=settings.shutdown_drain_seconds,
    )
    server.run()
    if not server.started:
        # The port was taken, or the application failed to start (as uvicorn.run exits).
        raise SystemExit(STARTUP_FAILURE)
