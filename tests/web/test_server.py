"""The HTTP protocol a telehealth server runs (telehealth.web.server), over real sockets."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from telehealth.web.server import HTTP_PROTOCOL, READ_SIZE


async def digest_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers each request with the SHA-256 of its body and how many messages carried it;
    ``?slow`` makes it take its time before each receive, so pieces pile up in between."""
    if scope["type"] != "http":
        return
    slow = scope["query_string"] == b"slow"
    digest = hashlib.sha256()
    messages = 0
    more = True
    while more:
        if slow:
            await asyncio.sleep(0.02)
        message = await receive()
        assert isinstance(message["body"], bytes)
        digest.update(message["body"])
        messages += 1
        more = message.get("more_body", False)
    body = json.dumps({"sha256": digest.hexdigest(), "messages": messages}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@contextmanager
def server() -> Iterator[int]:
    config = uvicorn.Config(
        digest_app, host="127.0.0.1", port=0, http=HTTP_PROTOCOL, log_level="warning"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert thread.is_alive(), "the server stopped during start-up"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield int(running.servers[0].sockets[0].getsockname()[1])
    finally:
        running.should_exit = True
        thread.join(timeout=20)


def request_head(length: int, path: str = "/") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {length}\r\n\r\n".encode()


def read_response(conn: socket.socket, buffered: bytearray) -> dict[str, Any]:
    while b"\r\n\r\n" not in buffered:
        buffered += conn.recv(65536)
    head, _, rest = bytes(buffered).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(rest) < length:
        rest += conn.recv(65536)
    buffered[:] = rest[length:]
    result: dict[str, Any] = json.loads(rest[:length])
    return result


def test_a_large_body_arrives_whole_and_in_order() -> None:
    body = os.urandom(5 * READ_SIZE + 12345)
    with server() as port, socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(request_head(len(body)) + body)
        answer = read_response(conn, bytearray())
    assert answer["sha256"] == hashlib.sha256(body).hexdigest()


def test_pieces_that_pile_up_before_the_application_reads_are_joined_in_order() -> None:
    rng = random.Random(5)
    body = rng.randbytes(300_000)
    with server() as port, socket.create_connection(("127.0.0.1", port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sendall(request_head(len(body), "/?slow"))
        sent = 0
        while sent < len(body):
            step = rng.randint(1, 20_000)
            conn.sendall(body[sent : sent + step])
            sent += step
            time.sleep(0.002)
        answer = read_response(conn, bytearray())
    assert answer["sha256"] == hashlib.sha256(body).hexdigest()
    # Fewer messages than sends: pieces did pile up and were joined.
    assert answer["messages"] < sent // 10_000


def test_requests_sent_back_to_back_on_one_connection_keep_their_own_bodies() -> None:
    bodies = [os.urandom(size) for size in (1, READ_SIZE - 40, 70_000, 3 * READ_SIZE)]
    wire = b"".join(request_head(len(body)) + body for body in bodies)
    with server() as port, socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(wire)
        buffered = bytearray()
        answers = [read_response(conn, buffered) for _ in bodies]
    assert [a["sha256"] for a in answers] == [hashlib.sha256(b).hexdigest() for b in bodies]
