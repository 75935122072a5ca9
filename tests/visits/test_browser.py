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
from tests.visits.live import Live, enter_call, live_server, through_intake

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
    clinician.wait_for_selector("#enter-waiting:not([hidden])")
    with clinician.expect_websocket() as opened:
        clinician.click("#enter-waiting")
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


def test_the_waiting_room_hears_the_clinician_and_the_call_chats_both_ways(
    live: Live, browser: Any
) -> None:
    visit_id, patient_token, clinician_token = live.book_now()
    # The patient on a phone-sized screen.
    patient = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    clinician = browser.new_context().new_page()
    errors: list[str] = []
    for page in (patient, clinician):
        page.on("pageerror", lambda exc: errors.append(str(exc)))
    patient.goto(f"{live.base_url}/visits/join#token={patient_token}")
    through_intake(patient)
    clinician.goto(f"{live.base_url}/visits/join#token={clinician_token}")
    clinician.wait_for_selector("#enter-waiting:not([hidden])")
    clinician.click("#enter-waiting")
    clinician.wait_for_selector("button.admit", timeout=30_000)

    clinician.click(".quick-message[data-message='Running 5 minutes late']")
    patient.wait_for_selector("#waiting-message-text:has-text('Running 5 minutes late')")
    # It came over the patient's socket, not with a reload.
    assert patient.evaluate("window.__visit.trace.some(([type]) => type === 'waiting-message')")

    clinician.click("button.admit")
    for page in (patient, clinician):
        page.wait_for_selector("#step-chat:not([hidden])", timeout=30_000)
    clinician.fill("#chat-input", "How is your knee today?")
    clinician.click("#chat-send")
    patient.wait_for_selector("#chat-list li:has-text('How is your knee today?')")
    patient.fill("#chat-input", "Much better, thank you")
    patient.press("#chat-input", "Enter")
    clinician.wait_for_selector("#chat-list li:has-text('Much better, thank you')")
    patient.wait_for_selector("#chat-list li:has-text('Much better, thank you')")
    send = patient.locator("#chat-send").bounding_box()
    assert send is not None
    assert send["x"] + send["width"] <= 390

    record = httpx.get(
        f"{live.base_url}/visits/{visit_id}", headers=live.world["clinician_a"].headers
    )
    assert record.status_code == 200
    for said in ("Running 5 minutes late", "How is your knee today?", "Much better, thank you"):
        assert said in record.text
    assert errors == []
