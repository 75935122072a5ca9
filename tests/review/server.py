"""A real uvicorn server process for protocol and crash tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.web.server import HTTP_PROTOCOL
from tests.support import World, seed_world

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``uvicorn tests.review.asgi:create`` on a loopback port, against the test's database."""

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            # This checkout's package first, not whichever one the environment has installed.
            "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
            "TELEHEALTH_ENV": "test",
            "TELEHEALTH_DATA_DIR": str(settings.data_dir),
            "TELEHEALTH_DATABASE_URL": settings.effective_database_url,
            "TELEHEALTH_PUBLIC_URL": self.url,
            "TELEHEALTH_API_TOKEN_MINUTES": str(settings.api_token_minutes),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Server:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "tests.review.asgi:create",
                "--http",
                HTTP_PROTOCOL,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the server exited during start-up")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the server did not start in time")

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def real_clock_world(settings: Settings) -> World:
    """The test world seeded on the real clock, which a server process reads: its tokens are
    current for that server."""
    return seed_world(settings, FrozenClock(datetime.now(UTC)))


@contextmanager
def running(settings: Settings) -> Iterator[Server]:
    handle = Server(settings).start()
    try:
        yield handle
    finally:
        handle.stop()
