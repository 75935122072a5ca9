"""TURN for real: a coturn server checks the credentials the server issues (TURN REST API,
``use-auth-secret``), and two Chromium pages told to use relay candidates only hold a visit
through it.

coturn and Chromium read the machine's clock, so the credentials they check are made on the real
clock (the live server's own, or ``SystemClock`` here), never a test's frozen one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aioice import stun, turn
from pydantic import SecretStr

from telehealth.clock import SystemClock
from telehealth.config import VisitSettings
from telehealth.visits import model
from tests.browser import eventually, frames_decoded, need_browser
from tests.processes import running
from tests.visits.live import LIVE_LEAD_MINUTES, Live, enter_call, live_server

pytestmark = pytest.mark.slow

REALM = "telehealth.test"
SECRET = "turn-test-shared-secret"
STARTUP_SECONDS = 20.0


@dataclass(frozen=True)
class Turn:
    port: int

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"


def _need_turnserver() -> str:
    found = shutil.which("turnserver")
    if found is not None:
        return found
    if os.environ.get("CI"):
        pytest.fail("turnserver is required in CI (apt-get install coturn)")
    pytest.skip("turnserver is not installed (apt-get install coturn)")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers_stun(address: tuple[str, int]) -> bool:
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(0.2)
        client.sendto(bytes(request), address)
        try:
            client.recvfrom(2048)
        except OSError:  # nothing listening yet: a timeout or an ICMP refusal
            return False
    return True


@pytest.fixture
def turn_server(tmp_path: Path) -> Iterator[Turn]:
    binary = _need_turnserver()
    server = Turn(_free_udp_port())
    command = [
        binary,
        "-n",
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        f"--listening-port={server.port}",
        "--no-tls",
        "--no-dtls",
        "--no-cli",
        f"--realm={REALM}",
        "--use-auth-secret",
        f"--static-auth-secret={SECRET}",
        # Both browsers are on loopback: test only, never in production.
        "--allow-loopback-peers",
        f"--pidfile={tmp_path / 'turnserver.pid'}",
        f"--db={tmp_path / 'turndb'}",
        f"--log-file={tmp_path / 'turnserver.log'}",
        "--simple-log",
    ]
    with running(command) as process:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _answers_stun(server.address):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"turnserver did not start; see {tmp_path / 'turnserver.log'}")
        yield server


def _allocate(server: Turn, username: str, credential: str) -> int | None:
    """Asks for a relay allocation; None when granted, else the TURN error code."""

    async def attempt() -> int | None:
        try:
            transport, _ = await turn.create_turn_endpoint(
                asyncio.DatagramProtocol, server.address, username, credential
            )
        except stun.TransactionFailed as refused:
            return int(refused.response.attributes["ERROR-CODE"][0])
        transport.close()
        return None

    return asyncio.run(attempt())


def test_coturn_grants_a_relay_for_fresh_credentials_and_refuses_expired_ones(
    turn_server: Turn,
) -> None:
    now = SystemClock().now()
    ttl = timedelta(minutes=60)
    fresh = model.turn_credentials(SECRET, "participant-1", now, ttl)
    expired = model.turn_credentials(SECRET, "participant-1", now - 2 * ttl, ttl)
    forged = model.turn_credentials("another-secret", "participant-1", now, ttl)

    assert _allocate(turn_server, *fresh) is None
    assert _allocate(turn_server, *expired) == 401
    assert _allocate(turn_server, *forged) == 401


@pytest.fixture
def relay_only_live(sqlite_template: Path, tmp_path: Path, turn_server: Turn) -> Iterator[Live]:
    need_browser()
    visits = VisitSettings(
        turn_secret=SecretStr(SECRET),
        turn_urls=[turn_server.url],
        ice_transport_policy="relay",
        waiting_room_lead_minutes=LIVE_LEAD_MINUTES,
    )
    with live_server(sqlite_template, tmp_path, visits) as server:
        yield server


# The local and remote candidate types of each connection's selected pair, and its policy.
SELECTED_PAIRS = """async () => {
  const found = [];
  for (const { pc } of window.__visit.peers.values()) {
    const stats = await pc.getStats();
    stats.forEach((pair) => {
      if (pair.type !== "candidate-pair" || !pair.nominated || pair.state !== "succeeded") return;
      found.push({
        policy: pc.getConfiguration().iceTransportPolicy,
        local: stats.get(pair.localCandidateId).candidateType,
        remote: stats.get(pair.remoteCandidateId).candidateType,
      });
    });
  }
  return found;
}"""


def test_two_browsers_hold_a_relay_only_visit_through_coturn(
    relay_only_live: Live, browser: Any
) -> None:
    live = relay_only_live
    _visit_id, patient_token, clinician_token = live.book_now()
    patient, clinician, errors = enter_call(browser, live, patient_token, clinician_token)

    assert eventually(lambda: frames_decoded(patient) > 10 and frames_decoded(clinician) > 10)
    for page in (patient, clinician):
        pairs = page.evaluate(SELECTED_PAIRS)
        assert pairs
        assert all(
            pair == {"policy": "relay", "local": "relay", "remote": "relay"} for pair in pairs
        )
    assert errors == []
