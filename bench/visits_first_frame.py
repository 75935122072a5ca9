"""Admit-to-first-decoded-frame on loopback in Chromium, against an in-page RTCPeerConnection
loopback measured in the same browser run.

Ours: the clinician's page clicks "Admit" for a waiting patient; the time runs until the
clinician's page renders the first frame of the patient's video (signaling through the real
server, peer-to-peer media). Baseline: two RTCPeerConnections in one page negotiate directly
and render a first frame. Medians of several rounds. Target: ratio <= 2.

    .venv/bin/python bench/visits_first_frame.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.browser import CHROMIUM, chromium  # noqa: E402
from tests.visits.live import Live, live_server  # noqa: E402

from telehealth.config import VisitSettings  # noqa: E402
from telehealth.db.migrate import upgrade  # noqa: E402

TRACE = False
LOOPBACK_JS = """
async () => {
  const stream = await navigator.mediaDevices.getUserMedia({video: true, audio: true});
  const a = new RTCPeerConnection({iceServers: []});
  const b = new RTCPeerConnection({iceServers: []});
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const video = document.createElement("video");
  video.muted = true; video.autoplay = true; video.playsInline = true;
  document.body.appendChild(video);
  const first = new Promise((resolve) => {
    b.ontrack = (e) => {
      if (video.srcObject) return;
      video.srcObject = e.streams[0];
      video.requestVideoFrameCallback(() => resolve(performance.now()));
    };
  });
  const t0 = performance.now();
  for (const track of stream.getTracks()) a.addTrack(track, stream);
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  const t1 = await first;
  a.close(); b.close(); stream.getTracks().forEach((t) => t.stop()); video.remove();
  return t1 - t0;
}
"""


def until(page: Any, expression: str, seconds: float = 30.0) -> None:
    # wait_for_function evaluates strings in the page, which the CSP (rightly) forbids.
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        time.sleep(0.005)


def baseline_round(browser: Any, base_url: str) -> float:
    page = browser.new_context().new_page()
    page.goto(f"{base_url}/login")
    elapsed = float(page.evaluate(LOOPBACK_JS))
    page.context.close()
    return elapsed


def visit_round(browser: Any, live: Live) -> float:
    patient, clinician, elapsed = admitted_call(browser, live)
    if TRACE:
        print("clinician", clinician.evaluate("window.__visit.trace"))
        print("patient", patient.evaluate("window.__visit.trace"))
    patient.context.close()
    clinician.context.close()
    return elapsed


def admitted_call(browser: Any, live: Live) -> tuple[Any, Any, float]:
    """The patient's and the clinician's pages in a new visit's call, and the milliseconds from
    the admit click to the clinician's first decoded frame of the patient."""
    _visit_id, patient_token, clinician_token = live.book_now()
    patient = browser.new_context().new_page()
    clinician = browser.new_context().new_page()
    patient.goto(f"{live.base_url}/visits/join#token={patient_token}")
    patient.wait_for_selector("#step-location:not([hidden])")
    patient.select_option("#location-state", "TX")
    patient.click("#confirm-location")
    until(patient, "!!(window.__visit.session && window.__visit.session.confirmed_state)")
    if patient.is_visible("#consent-agree"):
        patient.check("#consent-agree")
        patient.click("#consent-submit")
    patient.click("#enter-waiting")
    patient.wait_for_selector("#queue:has-text('number 1')")
    clinician.goto(f"{live.base_url}/visits/join#token={clinician_token}")
    clinician.wait_for_selector("#open-room:not([hidden])")
    clinician.click("#open-room")
    # Admit is enabled once the clinician's media is on and their socket is in the call.
    clinician.wait_for_selector("button.admit:not([disabled])", timeout=30_000)
    clinician.click("button.admit")
    until(clinician, "window.__visit.firstFrameAt !== null")
    elapsed = float(
        clinician.evaluate("window.__visit.firstFrameAt - window.__visit.admitClickedAt")
    )
    return patient, clinician, elapsed


@contextmanager
def server_and_browser() -> Iterator[tuple[Live, Any]]:
    """A live server on a fresh SQLite database, and Debian's Chromium, for one bench run."""
    if not CHROMIUM.exists():
        raise SystemExit("/usr/bin/chromium is needed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template.db"
        upgrade(f"sqlite:///{template}")
        # Each round books the next free slot, half an hour after the last one's: the waiting
        # room must be open for all of them.
        visits = VisitSettings(waiting_room_lead_minutes=24 * 60)
        with live_server(template, Path(tmp), visits) as live, chromium() as browser:
            yield live, browser


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with server_and_browser() as (live, browser):
        ours, base = [], []
        for _ in range(args.rounds):
            base.append(baseline_round(browser, live.base_url))
            ours.append(visit_round(browser, live))
    ours_ms, base_ms = statistics.median(ours), statistics.median(base)
    print(f"rounds: {args.rounds}, Chromium headless, loopback")
    print(f"baseline (in-page RTCPeerConnection loopback, start to first frame): {base_ms:.0f} ms")
    print(f"telehealth (admit click to first decoded frame at the clinician):    {ours_ms:.0f} ms")
    print(f"ratio: {ours_ms / base_ms:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
