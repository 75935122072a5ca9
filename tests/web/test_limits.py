"""Request size limits, over real sockets against a real server process: an oversized body is
refused with 413 before anything parses it or checks a credential, an oversized request head
with 431, the server's memory stays flat under 50 MB bodies, and tus PATCH bodies keep their
own, larger limit."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from telehealth.config import Settings
from tests.review.server import Server, real_clock_world, running
from tests.review.support import case_body
from tests.support import World

pytestmark = [pytest.mark.db, pytest.mark.slow]

MIB = 1024 * 1024
LOGIN = "/v1/auth/login"


@pytest.fixture
def people(settings: Settings) -> World:
    return real_clock_world(settings)


@pytest.fixture
def server(settings: Settings, people: World) -> Iterator[Server]:
    with running(settings) as handle:
        yield handle


def _connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def _head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: test", "Connection: close", *headers, "", ""]
    return "\r\n".join(lines).encode()


def _send_until_refused(conn: socket.socket, data: bytes) -> None:
    """Sends ``data``; a server that answers early and closes ends the sending."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        conn.sendall(data)


def _response(conn: socket.socket) -> tuple[int, dict[str, str], Any]:
    """Status, headers and JSON body of the one response on ``conn`` (read until closed)."""
    received = bytearray()
    while chunk := conn.recv(65536):
        received += chunk
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, json.loads(body)


def _chunked(size: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    data = b"x" * piece
    for _ in range(size // piece):
        yield b"%x\r\n" % piece + data + b"\r\n"


def _assert_problem(status: int, headers: dict[str, str], body: Any, expected: int) -> None:
    assert status == expected
    assert headers["content-type"] == "application/problem+json"
    assert body["status"] == expected


def test_a_declared_oversized_body_gets_413_before_any_credential_is_checked(
    server: Server,
) -> None:
    for path in (LOGIN, "/v1/decisions"):
        with _connect(server) as conn:
            # No token, and not a byte of the body: the declared length is enough.
            conn.sendall(
                _head(path, "Content-Type: application/json", f"Content-Length: {50 * MIB}")
            )
            status, headers, body = _response(conn)
        _assert_problem(status, headers, body, 413)
        assert body["code"] == "payload_too_large"
        assert headers["x-request-id"] == body["request_id"]  # through the security layer
    # The same request with a small body is the route's: no credential, 401.
    unauthenticated = requests.post(f"{server.url}/v1/decisions", json={}, timeout=30)
    assert unauthenticated.status_code == 401


def test_a_chunked_body_is_refused_once_it_passes_the_limit(
    server: Server, settings: Settings
) -> None:
    with _connect(server) as conn:
        # The body does not end: the server answers once it has seen more than the limit.
        # The client stops at the byte past it, since bytes still unread when the server
        # closes would reset the connection and lose the answer in the client's buffer.
        conn.sendall(
            _head(LOGIN, "Content-Type: application/json", "Transfer-Encoding: chunked")
            + b"".join(_chunked(settings.max_body_bytes))
            + b"1\r\nx"
        )
        status, headers, body = _response(conn)
    _assert_problem(status, headers, body, 413)
    assert headers["connection"] == "close"


def test_a_body_within_the_limit_reaches_the_route(server: Server, people: World) -> None:
    padded = {"email": "nobody@example.org", "password": "x" * (MIB // 2)}
    answer = requests.post(f"{server.url}{LOGIN}", json=padded, timeout=30)
    assert answer.status_code not in (413, 431)
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "headers",
    [
        ["X-Big: " + "a" * (32 * 1024)],  # one large header
        [f"X-Many-{n}: " + "b" * 1000 for n in range(20)],  # many, larger together
    ],
    ids=["one-header", "many-headers"],
)
def test_an_oversized_request_head_gets_431(server: Server, headers: list[str]) -> None:
    with _connect(server) as conn:
        conn.sendall(_head(LOGIN, *headers, "Content-Length: 2") + b"{}")
        status, response_headers, body = _response(conn)
    _assert_problem(status, response_headers, body, 431)
    assert body["code"] == "headers_too_large"


def test_a_header_that_never_ends_is_refused_while_it_arrives(server: Server) -> None:
    with _connect(server) as conn:
        conn.sendall(b"POST /v1/auth/login HTTP/1.1\r\nHost: test\r\nX-Endless: ")
        _send_until_refused(conn, b"a" * (8 * MIB))
        status, headers, body = _response(conn)
    _assert_problem(status, headers, body, 431)


def test_a_head_within_the_limit_is_served(server: Server) -> None:
    answer = requests.get(f"{server.url}/healthz", headers={"X-Fine": "c" * 8000}, timeout=30)
    assert answer.status_code == 200


def _rss_peak_since_reset(pid: int) -> tuple[int, int]:
    """The process's resident set now, in bytes, after resetting its peak to it."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _status_kib(pid, "VmRSS") * 1024, _status_kib(pid, "VmHWM") * 1024


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def _fifty_megabytes(server: Server) -> None:
    """One 50 MB JSON body to the login route with its length declared, then one streamed in
    chunks; whatever the server answers, and whenever it stops reading."""
    payload = b'{"email": "' + b"a" * (50 * MIB) + b'", "password": "x"}'
    declared = _head(LOGIN, "Content-Type: application/json", f"Content-Length: {len(payload)}")
    chunked = _head(LOGIN, "Content-Type: application/json", "Transfer-Encoding: chunked")
    last_chunk = b"%x\r\n" % len(payload) + payload + b"\r\n0\r\n\r\n"
    for head, body in ((declared, payload), (chunked, last_chunk)):
        with _connect(server) as conn:
            conn.sendall(head)
            _send_until_refused(conn, body)
            with contextlib.suppress(ConnectionResetError):
                conn.recv(65536)


def test_memory_stays_flat_under_fifty_megabyte_bodies(server: Server) -> None:
    assert server.process is not None
    pid = server.process.pid
    _fifty_megabytes(server)  # first use: code paths and buffers warm up
    before, _ = _rss_peak_since_reset(pid)
    for _ in range(3):
        _fifty_megabytes(server)
    peak = _status_kib(pid, "VmHWM") * 1024
    assert peak - before < 4 * MIB


def test_a_tus_patch_larger_than_the_json_limit_is_received(
    server: Server, people: World, settings: Settings
) -> None:
    headers = people["patient_a"].headers
    case = requests.post(f"{server.url}/v1/cases", json=case_body(), headers=headers, timeout=30)
    assert case.status_code == 201, case.text
    data = b"%PDF-1.7\n" + os.urandom(3 * MIB)
    assert len(data) > settings.max_body_bytes
    tus = {**headers, "Tus-Resumable": "1.0.0"}
    created = requests.post(
        f"{server.url}/v1/uploads/",
        headers={
            **tus,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": _metadata(case_id=case.json()["id"], filename="scan.pdf"),
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    patched = requests.patch(
        created.headers["location"]
        if created.headers["location"].startswith("http")
        else f"{server.url}{created.headers['location']}",
        data=data,
        headers={
            **tus,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
        timeout=60,
    )
    assert patched.status_code == 204, patched.text
    assert patched.headers["upload-offset"] == str(len(data))


def _metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())
