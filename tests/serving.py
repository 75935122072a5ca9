"""A real HTTP server for browser and WebSocket tests: uvicorn in a thread on a free port, with
the HTTP protocol ``telehealth serve`` runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from telehealth.web.server import HTTP_PROTOCOL, limits


@contextmanager
def serving(app: FastAPI, port: int = 0) -> Iterator[str]:
    """Serves ``app`` (lifespan included) on ``port`` (any free one by default) until the block
    ends; yields its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=HTTP_PROTOCOL,
        log_level="warning",
        ws="websockets-sansio",
        lifespan="on",
        **limits(app.state.services.settings),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        app.state.services.engine.dispose()
