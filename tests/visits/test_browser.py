"""Two headless Chromium pages hold a real visit through a real server: the clinician admits
the patient, both decode video, then the patient's camera stops and the session record shows
an audio-only segment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import eventually, frames_decoded, need_browser
from tests.visits.live import Live, enter_call, live_server

pytestmark = pytest.mark.slow


@pytest.fixture
def live(sqlite_template: Path, tmp_path: Path) -> Iterator[Live]:
    need_browser()
    with live_server(sqlite_template, tmp_path) as server:
        yield server


def test_two_browsers_hold_a_visit_and_the_fallback_to_audio_is_recorded(
    live: Live, browser: Any
) -> None:
    visit_id, patient_token, clinician_token = live.book_now()
    patient, clinician, errors = enter_call(browser, live, patient_token, clinician_token)

    assert eventually(lambda: frames_decoded(patient) > 10 and frames_decoded(clinician) > 10)

    patient.click("#stop-video")
    clinician_headers = live.world["clinician_a"].headers

    def audio_only_recorded() -> bool:
        record = httpx.get(f"{live.base_url}/v1/visits/{visit_id}", headers=clinician_headers)
        modalities = [s["modality"] for s in record.json()["session"]["segments"]]
        return "sync_audio_video" in modalities and modalities[-1] == "sync_audio_only"

    assert eventually(audio_only_recorded)
    assert errors == []


def test_the_csp_lets_the_visit_page_reach_its_own_socket_and_no_other(
    live: Live, browser: Any
) -> None:
    """``connect-src 'self'`` covers the page's own ws: origin in Chromium; a socket to any
    other host is refused by the policy."""
    _visit_id, _patient_token, clinician_token = live.book_now()
    clinician = browser.new_context().new_page()
    clinician.goto(f"{live.base_url}/visits/join#token={clinician_token}")
    clinician.wait_for_selector("#open-room:not([hidden])")
    with clinician.expect_websocket() as opened:
        clinician.click("#open-room")
    socket = opened.value
    assert socket.url == live.ws_url
    welcome = socket.wait_for_event(
        "framereceived", predicate=lambda frame: '"welcome"' in str(frame)
    )
    assert '"role": "clinician"' in str(welcome)
    # Another origin: the same server under another host name.
    elsewhere = live.ws_url.replace("127.0.0.1", "localhost")
    refused = clinician.evaluate(
        """(url) => new Promise((resolve) => {
            document.addEventListener("securitypolicyviolation",
                (event) => resolve(event.effectiveDirective + " " + event.blockedURI));
            const socket = new WebSocket(url);
            socket.addEventListener("open", () => resolve("open"));
            // A refused socket also closes; the violation report may come just after.
            socket.addEventListener("close", () => setTimeout(() => resolve("closed"), 2000));
        })""",
        elsewhere,
    )
    assert refused.startswith("connect-src ws://localhost:")
