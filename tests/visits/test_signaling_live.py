"""Malformed and abusive frames on the signaling socket, sent by a real WebSocket client to a
real server: each gets an error message or a documented close code, never a crash (1006) or
an unhandled exception in the server's log."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.visits.live import Live, live_server

NAN_AND_FRIENDS = (
    '{"type": "stats", "video_sending": true, "video_frames_sent": NaN}',
    '{"type": "stats", "video_sending": true, "video_frames_sent": Infinity}',
    '{"type": "stats", "video_sending": true, "video_frames_sent": -Infinity}',
    '{"type": "stats", "video_sending": true, "video_frames_sent": 1e400}',
    '{"type": "ping", "extra": ' + "[" * 5000 + "]" * 5000 + "}",
    "[" * 5000 + "]" * 5000,
)


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server_errors() -> Iterator[list[logging.LogRecord]]:
    """What the server logs at ERROR or with a traceback (uvicorn reports an application's
    unhandled exceptions on ``uvicorn.error``)."""
    handler = Collected()
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn", "")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler.records
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.fixture
def live(sqlite_template: Path, tmp_path: Path) -> Iterator[Live]:
    with live_server(sqlite_template, tmp_path) as server:
        yield server


@contextmanager
def joined(live: Live) -> Iterator[ClientConnection]:
    _visit, patient, _clinician = live.book_now()
    with connect(live.ws_url, open_timeout=20, max_size=None) as ws:
        ws.send(json.dumps({"type": "auth", "token": patient}))
        assert _next(ws)["type"] == "welcome"
        yield ws


def _next(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=20))
    return message


def _close_code(ws: ClientConnection) -> int | None:
    """Reads until the server closes; the code it closed with."""
    try:
        while True:
            ws.recv(timeout=20)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


def _healthy(ws: ClientConnection) -> bool:
    ws.send(json.dumps({"type": "ping"}))
    return _next(ws)["type"] == "pong"


def _unhandled(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.levelno >= logging.ERROR or r.exc_info]


def test_non_finite_numbers_and_deep_nesting_get_an_error_and_the_socket_survives(
    live: Live, server_errors: list[logging.LogRecord]
) -> None:
    with joined(live) as ws:
        for raw in NAN_AND_FRIENDS:
            ws.send(raw)
            answer = _next(ws)
            assert answer["type"] == "error", raw[:60]
            assert answer["code"] == "invalid_input"
            assert _healthy(ws)
    assert _unhandled(server_errors) == []


def test_deep_nesting_as_the_first_message_is_refused_like_a_bad_token(
    live: Live, server_errors: list[logging.LogRecord]
) -> None:
    with connect(live.ws_url, open_timeout=20) as ws:
        ws.send("[" * 5000 + "]" * 5000)
        assert _next(ws)["code"] == "token_invalid"
        assert _close_code(ws) == 4401
    assert _unhandled(server_errors) == []


def test_a_binary_frame_closes_with_1003(
    live: Live, server_errors: list[logging.LogRecord]
) -> None:
    with joined(live) as ws:
        ws.send(b'{"type": "ping"}')
        assert _close_code(ws) == 1003
    assert _unhandled(server_errors) == []


def test_a_message_over_the_frame_limit_closes_with_1009(
    live: Live, server_errors: list[logging.LogRecord]
) -> None:
    limit = live.app.state.services.settings.max_body_bytes
    with joined(live) as ws:
        ws.send("x" * 70_000)  # over the 64 KiB message cap: an error, the socket stays
        assert _next(ws)["code"] == "payload_too_large"
        assert _healthy(ws)
        ws.send("x" * (limit + 1))
        assert _close_code(ws) == 1009
    assert _unhandled(server_errors) == []


def test_a_flood_closes_with_4029(live: Live, server_errors: list[logging.LogRecord]) -> None:
    services = live.app.state.services
    rate = services.visits.settings.signal_messages_per_second
    with joined(live) as ws:
        with contextlib.suppress(ConnectionClosed):  # the server may close mid-flood
            for _ in range(rate * 3):
                ws.send(json.dumps({"type": "ping"}))
        assert _close_code(ws) == 4029
    assert _unhandled(server_errors) == []
