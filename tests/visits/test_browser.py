"""Two headless Chromium pages hold a real visit through a real server: the clinician admits
the patient, both decode video; the call controls (microphone, camera, screen) reach the other
side and the session record; the room's End asks the E/M level."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import eventually, frames_decoded, need_browser
from tests.visits.live import Live, enter_call, live_server, open_room, through_intake

pytestmark = pytest.mark.slow


@pytest.fixture
def live(sqlite_template: Path, tmp_path: Path) -> Iterator[Live]:
    need_browser()
    with live_server(sqlite_template, tmp_path) as server:
        yield server


def _session(live: Live, visit_id: object) -> Any:
    headers = live.world["clinician_a"].headers
    return httpx.get(f"{live.base_url}/v1/visits/{visit_id}", headers=headers).json()["session"]


def _modalities(live: Live, visit_id: object) -> list[str]:
    return [s["modality"] for s in _session(live, visit_id)["segments"]]


def _name(live: Live, token: str) -> str:
    headers = {"X-Visit-Token": token}
    name: str = httpx.get(f"{live.base_url}/v1/visit-session", headers=headers).json()[
        "display_name"
    ]
    return name


def _connected(live: Live, browser: Any) -> tuple[Any, dict[str, str], Any, Any, list[str]]:
    """A visit whose patient and clinician both decode video: its id, their join tokens, their
    pages and the pages' errors."""
    visit_id, patient_token, clinician_token = live.book_now()
    patient, clinician, errors = enter_call(browser, live, patient_token, clinician_token)
    assert eventually(lambda: frames_decoded(patient) > 10 and frames_decoded(clinician) > 10)
    return (
        visit_id,
        {"patient": patient_token, "clinician": clinician_token},
        patient,
        clinician,
        errors,
    )


def test_two_browsers_hold_a_visit_and_the_fallback_to_audio_is_recorded(
    live: Live, browser: Any
) -> None:
    visit_id, _tokens, patient, clinician, errors = _connected(live, browser)
    patient.click("#camera-toggle")
    assert eventually(
        lambda: (
            "sync_audio_video" in _modalities(live, visit_id)
            and _modalities(live, visit_id)[-1] == "sync_audio_only"
        )
    )
    # Ending without a level leaves the choice to the visit record, and the coding says so.
    clinician.click("#end-visit")
    clinician.click("#end-later")
    clinician.wait_for_selector("#room[data-state='ended']", state="attached")
    billing = _session(live, visit_id)["billing"]
    assert billing["lines"] == []
    assert "encounter.em_level_missing" in [f["rule"] for f in billing["findings"]]
    assert errors == []


def test_call_controls_reach_the_other_side_and_the_session_record(
    live: Live, browser: Any
) -> None:
    visit_id, tokens, patient, clinician, errors = _connected(live, browser)
    patient_tile = "#remote-videos .tile"  # the patient's tile on the clinician's page

    # Each tile names its participant and role; one's own tile says "You".
    clinician.wait_for_selector(
        f"{patient_tile} .tile-name:has-text('{_name(live, tokens['patient'])} · Patient')"
    )
    patient.wait_for_selector(
        f"#remote-videos .tile-name:has-text('{_name(live, tokens['clinician'])} · Clinician')"
    )
    assert patient.inner_text("#local-tile .tile-name") == "You"
    clinician.wait_for_selector(f"{patient_tile} .tile-quality:not([hidden])")
    quality = clinician.inner_text(f"{patient_tile} .tile-quality")
    assert quality in ("Good connection", "Fair connection", "Poor connection")

    # Microphone: muted and back, shown on the other side.
    patient.click("#mic-toggle")
    assert patient.get_attribute("#mic-toggle", "aria-pressed") == "true"
    clinician.wait_for_selector(f"{patient_tile}[data-audio='off'] .tile-mic:not([hidden])")
    assert patient.evaluate("window.__visit.local.getAudioTracks()[0].enabled") is False
    patient.click("#mic-toggle")
    clinician.wait_for_selector(
        f"{patient_tile}[data-audio='on'] .tile-mic[hidden]", state="attached"
    )

    # Camera: off shows "audio only" instead of a frozen frame and the record follows what was
    # sent, back and forth.
    patient.click("#camera-toggle")
    patient.wait_for_selector("#camera-toggle[aria-pressed='true']")
    clinician.wait_for_selector(f"{patient_tile}[data-video='off'] .placeholder")
    assert clinician.is_visible(f"{patient_tile} .tile-camera:has-text('Camera off — audio only')")
    assert patient.evaluate("window.__visit.local.getVideoTracks()[0].readyState") == "ended"
    assert eventually(lambda: _modalities(live, visit_id)[-1:] == ["sync_audio_only"])
    before = frames_decoded(clinician)
    patient.click("#camera-toggle")
    patient.wait_for_selector("#camera-toggle[aria-pressed='false']")
    clinician.wait_for_selector(f"{patient_tile}[data-video='on']")
    assert eventually(lambda: frames_decoded(clinician) > before + 10)
    # (The call itself starts audio-only, until both sides' first frames are reported.)
    back_and_forth = ["sync_audio_video", "sync_audio_only", "sync_audio_video"]
    assert eventually(lambda: _modalities(live, visit_id)[-3:] == back_and_forth), _modalities(
        live, visit_id
    )

    # Screen sharing is the clinician's; stopping it returns to the camera.
    assert patient.is_hidden("#screen-toggle")
    clinician.click("#screen-toggle")
    clinician.wait_for_selector("#screen-toggle[aria-pressed='true']")
    patient.wait_for_selector("#remote-videos .tile .tile-screen:not([hidden])")
    # What the clinician's video sender carries: not the camera while the screen is shared.
    screen = """() => {
        const camera = window.__visit.local.getVideoTracks()[0];
        const { pc } = window.__visit.peers.values().next().value;
        return pc.getSenders().some(
            (s) => s.track && s.track.kind === "video" && s.track.label !== camera.label);
    }"""
    assert clinician.evaluate(screen) is True
    clinician.click("#screen-toggle")
    clinician.wait_for_selector("#screen-toggle[aria-pressed='false']")
    patient.wait_for_selector("#remote-videos .tile .tile-screen[hidden]", state="attached")
    assert clinician.evaluate(screen) is False

    # Ending from the room asks the level; the chosen one is billed.
    clinician.click("#end-visit")
    clinician.wait_for_selector("#end-dialog[open] #end-levels input[value='99214']")
    assert clinician.is_visible("#end-dialog:has-text('Measured session time')")
    clinician.click("#end-with-level")
    assert clinician.is_visible("#end-error:has-text('Choose a level')")
    clinician.check("#end-levels input[value='99214']")
    clinician.check("input[name='end-basis'][value='mdm']")
    clinician.click("#end-with-level")
    clinician.wait_for_selector("#room[data-state='ended']", state="attached")
    session = _session(live, visit_id)
    assert (session["em_code"], session["em_basis"]) == ("99214", "mdm")
    assert [line["code"] for line in session["billing"]["lines"]] == ["99214"]
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
    open_room(clinician)

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
