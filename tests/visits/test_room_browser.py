"""The visit room in headless Chromium with its fake camera and microphone (a beep): the
pre-call device check at phone width, the waiting room as the patient sees it, and the
clinician's own room, which must be open (their media on) before they can admit anyone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import eventually, frames_decoded, need_browser
from tests.portal.live import shot
from tests.visits.live import Live, live_server, located_and_consented, open_room, patient_waiting

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}
LIVE_TRACKS = """() => {
  const local = window.__visit.local;
  if (!local) return [];
  return local.getTracks().filter((t) => t.readyState === "live").map((t) => t.kind).sort();
}"""


@pytest.fixture
def live(sqlite_template: Path, tmp_path: Path) -> Iterator[Live]:
    need_browser()
    with live_server(sqlite_template, tmp_path) as server:
        yield server


def _options(page: Any, select: str) -> list[str]:
    return list(page.eval_on_selector_all(f"{select} option", "els => els.map(e => e.value)"))


def _level(page: Any) -> float:
    return float(page.eval_on_selector("#mic-level", "el => el.value"))


def test_the_pre_call_check_picks_devices_shows_the_microphone_level_and_runs_again(
    live: Live, browser: Any
) -> None:
    live.book_now()  # the next slot; the patient's visit is the one after it
    _visit_id, patient_token, _clinician_token = live.book_now()
    context = browser.new_context(viewport=PHONE, timezone_id="America/Chicago")
    patient = context.new_page()
    errors: list[str] = []
    patient.on("pageerror", lambda exc: errors.append(str(exc)))
    patient.goto(f"{live.base_url}/visits/join#token={patient_token}")
    located_and_consented(patient)

    patient.click("#precall-run")
    patient.wait_for_selector("#precall-results[data-done='1']", state="attached", timeout=30_000)
    cameras = _options(patient, "#camera-select")
    microphones = _options(patient, "#microphone-select")
    assert cameras
    assert microphones
    # The call sends what the pickers show.
    assert patient.evaluate(LIVE_TRACKS) == ["audio", "video"]
    in_use = patient.evaluate(
        "() => window.__visit.local.getAudioTracks()[0].getSettings().deviceId"
    )
    assert patient.input_value("#microphone-select") == in_use
    # The fake microphone beeps: the meter rises above silence.
    assert eventually(lambda: _level(patient) > 0.05, seconds=15)
    shot(patient, "visits-01-pre-call-check")
    # Chromium's fake devices include speakers: the test sound plays on the one chosen.
    speakers = _options(patient, "#speaker-select")
    assert len(speakers) > 1, speakers
    patient.select_option("#speaker-select", speakers[-1])
    patient.click("#speaker-test")
    patient.wait_for_selector("#speaker-result[data-played='1']", state="attached")
    assert patient.get_attribute("#speaker-result", "data-sink") == speakers[-1]

    # Choosing another microphone (the fake device lists three) reopens the stream with it.
    assert len(microphones) > 1, microphones
    patient.select_option("#microphone-select", microphones[-1])
    assert eventually(
        lambda: (
            patient.evaluate(
                "() => window.__visit.local.getAudioTracks()[0].getSettings().deviceId"
            )
            == microphones[-1]
        )
    )
    assert patient.inner_text("#precall-run") == "Run the check again"
    patient.click("#precall-run")
    patient.wait_for_selector("#precall-results[data-done='1']", state="attached", timeout=30_000)
    assert "Microphone: working" in patient.inner_text("#precall-results")
    assert eventually(lambda: _level(patient) > 0.05, seconds=15)

    # The waiting room: who the visit is with, when in the patient's own zone, how long to go.
    patient.wait_for_selector("#step-waiting:not([hidden])")
    assert patient.inner_text("#lobby-with") == "Your visit with clinician_a"
    assert "Central" in patient.inner_text("#lobby-when")
    assert re.fullmatch(r"Starts in (1 hour|\d+ minutes)\.", patient.inner_text("#lobby-starts"))
    patient.click("#enter-waiting")
    patient.wait_for_selector("#queue:has-text('clinician_a will let you in')")
    shot(patient, "visits-02-waiting-room")
    # Nothing is wider than a phone's screen.
    assert patient.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert errors == []


def test_the_clinician_opens_their_room_with_media_on_before_admitting(
    live: Live, browser: Any
) -> None:
    _visit_id, patient_token, clinician_token = live.book_now()
    patient, clinician, errors = patient_waiting(browser, live, patient_token, clinician_token)
    clinician.wait_for_selector("button.admit[disabled]")
    assert clinician.inner_text("#open-room") == "Open my room"
    assert clinician.is_hidden("#enter-waiting")
    assert "camera and microphone turn on first" in clinician.inner_text("#host-hint")
    row = clinician.inner_text("#waiting-list tr")
    for words in ("CanaryA SecretA", "Patient", "TX", "Waiting", "consent on file"):
        assert words in row, row
    assert "1970" not in row
    # The clinician runs the same device check.
    assert clinician.is_visible("#step-precall")
    assert _options(clinician, "#camera-select") == []  # listed once the devices are open

    open_room(clinician)
    assert clinician.evaluate(LIVE_TRACKS) == ["audio", "video"]
    assert _options(clinician, "#camera-select")
    patient.wait_for_selector("#lobby-starts", state="attached")
    assert eventually(lambda: patient.evaluate("window.__visit.session.clinician_present") is True)
    clinician.click("button.admit")
    assert eventually(lambda: frames_decoded(patient) > 10 and frames_decoded(clinician) > 10)
    assert errors == []
