"""The HTTP server a telehealth process runs: uvicorn with httptools, tuned for request bodies.

``telehealth serve`` runs :func:`serve`. Running the application under uvicorn directly works
too; ``--http telehealth.web.server:HttpProtocol`` (:data:`HTTP_PROTOCOL`) adds what this module
changes.

Receiving a large upload is mostly copying. The stock protocol receives each socket read as a
new bytes object (one copy), httptools hands the body out as another (two), and uvicorn gathers
it in a bytearray (three) that it copies again for the application (four), all on the event
loop's thread. Here the socket is read into one reused buffer and the body reaches the
application as httptools hands it out: one copy.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

# Bytes read from a socket at once. Larger reads mean fewer trips through the protocol for a
# large body; the buffer is shared by every connection on a thread, so its size is paid once.
READ_SIZE = 1024 * 1024

HTTP_PROTOCOL = "telehealth.web.server:HttpProtocol"

_buffers = threading.local()


def _read_buffer() -> memoryview:
    buffer: memoryview | None = getattr(_buffers, "read", None)
    if buffer is None:
        buffer = _buffers.read = memoryview(bytearray(READ_SIZE))
    return buffer


class BodyProtocol(HttpToolsProtocol):
    """httptools' protocol, passing each body piece on as the bytes httptools made of it.

    A piece that arrives while nothing is waiting is handed over as it is (uvicorn gives the
    application ``bytes(cycle.body)``, which for a bytes object is the object itself); only
    pieces that arrive before the application has taken the last are joined.
    """

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


def serve(app: Any, *, host: str, port: int) -> None:
    """Serve ``app`` until interrupted; logging is the process's own (``configure_logging``)."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=HTTP_PROTOCOL,
        access_log=False,
        proxy_headers=False,
        log_config=None,
    )
