"""SIGTERM drains a real ``telehealth serve``: readiness answers 503 while it keeps serving, an
upload whose body is still arriving completes, and visit signaling sockets are closed with
1012 (service restart), which visit pages answer by reconnecting (static/visits/visit.js)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Environment, Settings, VisitSettings
from tests.review.server import free_port
from tests.review.support import case_body
from tests.support import World, seed_world
from tests.visits.live import LIVE_LEAD_MINUTES, Live

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# The close code uvicorn sends every WebSocket as it shuts down: not one of the codes after
# which a visit page stops reconnecting (TERMINAL in static/visits/visit.js).
SERVICE_RESTART = 1012
# Long enough that only the second signal ends the drain: the test sees the drain, then the
# shutdown, each when it asks for it.
DRAIN_SECONDS = 300


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    world: World
    patient_link: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


def wait_until(check: object, what: str, timeout: float = 60.0) -> None:
    """Waits for ``check()`` to hold (a condition, not a duration, is what the test asserts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen")


def status_of(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError:
        return None


@pytest.fixture
def served(sqlite_template: Path, tmp_path: Path) -> Iterator[Served]:
    """``telehealth serve`` in a process of its own, on a database with the test world and a
    visit booked now (both on the real clock, which the server reads)."""
    database = tmp_path / "live.db"
    shutil.copyfile(sqlite_template, database)
    visits = VisitSettings(waiting_room_lead_minutes=LIVE_LEAD_MINUTES)
    settings = Settings(
        env=Environment.TEST,
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{database}",
        visits=visits,
    )
    world = seed_world(settings, FrozenClock(datetime.now(UTC)))
    booking_app = create_app(settings)
    _, patient_link, _ = Live("", booking_app, world).book_now()
    booking_app.state.services.engine.dispose()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
        "TELEHEALTH_ENV": "test",
        "TELEHEALTH_DATA_DIR": str(settings.data_dir),
        "TELEHEALTH_DATABASE_URL": settings.effective_database_url,
        "TELEHEALTH_PUBLIC_URL": url,
        "TELEHEALTH_WAITING_ROOM_LEAD_MINUTES": str(LIVE_LEAD_MINUTES),
        "TELEHEALTH_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "TELEHEALTH_SHUTDOWN_GRACE_SECONDS": "120",
    }
    command = [sys.executable, "-c", "from telehealth.cli import app; app()"]
    process = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--no-jobs"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: status_of(url + "/readyz") == 200, "the server starting")
        yield Served(url, process, world, patient_link)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def start_upload(served: Served, size: int) -> tuple[str, dict[str, str]]:
    """A new case's document upload of ``size`` bytes: its path and the patient's headers."""
    headers = {**served.world["patient_a"].headers, "Tus-Resumable": "1.0.0"}
    case = httpx.post(served.url + "/v1/cases", json=case_body(), headers=headers)
    assert case.status_code == 201, case.text
    meta = {"case_id": case.json()["id"], "filename": "labs.pdf", "filetype": "application/pdf"}
    encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
    created = httpx.post(
        served.url + "/v1/uploads/",
        headers={**headers, "Upload-Length": str(size), "Upload-Metadata": encoded},
    )
    assert created.status_code == 201, created.text
    path = created.headers["location"].removeprefix(served.url)
    return path, headers


def close_code(signaling: ClientConnection) -> int | None:
    """Reads the socket until the server closes it; the code it closed with."""
    try:
        while True:
            signaling.recv(timeout=60)
    except ConnectionClosed as closed:
        return None if closed.rcvd is None else closed.rcvd.code


def answer_of(sock: socket.socket) -> bytes:
    received = b""
    while b"\r\n\r\n" not in received:
        piece = sock.recv(65536)
        if not piece:
            break
        received += piece
    return received


def test_sigterm_drains_then_finishes_in_flight_requests_and_moves_signaling_away(
    served: Served,
) -> None:
    body = b"%PDF-1.7\n" + os.urandom(300_000) + b"\n%%EOF\n"
    path, headers = start_upload(served, len(body))

    # A participant in the visit's waiting room, on this instance.
    ws_url = served.url.replace("http://", "ws://") + "/v1/visit-session/signal"
    with connect(ws_url) as signaling:
        signaling.send(json.dumps({"type": "auth", "token": served.patient_link}))
        assert '"welcome"' in str(signaling.recv(timeout=30))

        # A tus PATCH whose body is half sent when the signal comes.
        head = [
            f"PATCH {path} HTTP/1.1",
            f"Host: 127.0.0.1:{served.port}",
            *(f"{name}: {value}" for name, value in headers.items()),
            "Upload-Offset: 0",
            "Content-Type: application/offset+octet-stream",
            f"Content-Length: {len(body)}",
        ]
        upload = socket.create_connection(("127.0.0.1", served.port))
        upload.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body[: len(body) // 2])

        served.process.send_signal(signal.SIGTERM)
        # Draining: alive, serving, but no longer ready, so the balancer routes around it.
        wait_until(lambda: status_of(served.url + "/readyz") == 503, "readiness answering 503")
        assert status_of(served.url + "/healthz") == 200
        assert served.process.poll() is None

        # The drain over, the server shuts down: signaling peers are told to reconnect
        # elsewhere.
        served.process.send_signal(signal.SIGTERM)
        assert close_code(signaling) == SERVICE_RESTART
    wait_until(lambda: status_of(served.url + "/healthz") is None, "the listener closing")

    # The upload in flight still completes, and is acknowledged.
    upload.sendall(body[len(body) // 2 :])
    answer = answer_of(upload)
    upload.close()
    assert answer.startswith(b"HTTP/1.1 204"), answer[:200]
    assert f"upload-offset: {len(body)}".encode() in answer.lower()
    assert served.process.wait(timeout=120) in (0, -signal.SIGTERM)
