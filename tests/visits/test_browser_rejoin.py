"""Headless Chromium pages rejoin a visit: a reload on either side brings the call back with
the presence gap recorded, a removed participant cannot come back, and four participants hold
one mesh call."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import eventually, frames_decoded, need_browser
from tests.portal.live import shot
from tests.visits.live import Live, enter_call, first_frames, live_server, peers_decoding

pytestmark = pytest.mark.slow

TOKEN_KEY = "telehealth.visit:/visits/join:token"
STATUS_SEEN = "window.__visit.trace.some((t) => t[0] === 'status:Reconnecting…')"


@pytest.fixture
def live(sqlite_template: Path, tmp_path: Path) -> Iterator[Live]:
    need_browser()
    with live_server(sqlite_template, tmp_path) as server:
        yield server


def _sockets(live: Live, visit_id: object, participant: str) -> list[str]:
    record = httpx.get(
        f"{live.base_url}/v1/visits/{visit_id}", headers=live.world["clinician_a"].headers
    )
    events = record.json()["session"]["presence"]
    return [
        e["kind"]
        for e in events
        if e["participant_id"] == participant and e["kind"] in ("join", "leave")
    ]


@pytest.mark.parametrize("side", ["patient", "clinician"])
def test_a_reload_mid_call_rejoins_and_presence_keeps_the_gap(
    live: Live, browser: Any, side: str
) -> None:
    visit_id, patient_token, clinician_token = live.book_now()
    patient, clinician, errors = enter_call(browser, live, patient_token, clinician_token)
    assert eventually(lambda: frames_decoded(patient) > 10 and frames_decoded(clinician) > 10)
    reloading, staying = (patient, clinician) if side == "patient" else (clinician, patient)
    me = str(reloading.evaluate("window.__visit.me"))
    seen = first_frames(staying)

    reloading.reload()

    assert "#token" not in reloading.url
    assert eventually(
        lambda: (
            peers_decoding(reloading) == 1
            and first_frames(staying) > seen
            and peers_decoding(staying) == 1
        ),
        seconds=10,
    )
    # Both sides said so in plain words while the call came back.
    for page in (patient, clinician):
        page.wait_for_selector("#call-status:has-text('Connected.')")
        assert page.evaluate(STATUS_SEEN) is True
    shot(reloading, f"visits-05-rejoined-after-reload-{side}")
    # Camera and microphone were acquired again.
    assert reloading.evaluate("window.__visit.local.getTracks().length") == 2
    # The reload is a second join and the old socket's end a leave. Which of those two the
    # server records first depends on when it notices the old socket close: the unloading page
    # closes it, but a busy machine can let the new socket in first.
    assert eventually(lambda: sorted(_sockets(live, visit_id, me)) == ["join", "join", "leave"]), (
        _sockets(live, visit_id, me)
    )
    assert _sockets(live, visit_id, me)[0] == "join"
    assert errors == []


def test_a_removed_participant_cannot_rejoin(live: Live, browser: Any) -> None:
    _visit_id, patient_token, clinician_token = live.book_now()
    patient, clinician, errors = enter_call(browser, live, patient_token, clinician_token)
    patient.wait_for_selector("#step-call:not([hidden])")
    me = patient.evaluate("window.__visit.me")
    clinician.click(f"#remove-{me}")
    patient.wait_for_selector("#status:has-text('You were removed from the visit.')")
    # Leaving forgot the link: a reload has nothing to rejoin with.
    patient.reload()
    patient.wait_for_selector("#status:has-text('This link is not valid.')")
    # The link itself is revoked: kept in the tab, or opened again.
    patient.evaluate(
        "([key, token]) => sessionStorage.setItem(key, token)", [TOKEN_KEY, patient_token]
    )
    patient.reload()
    patient.wait_for_selector("#room[data-state='invalid']", state="attached")
    assert patient.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None
    patient.goto(f"{live.base_url}/visits/join#token={patient_token}")
    patient.wait_for_selector("#room[data-state='invalid']", state="attached")
    assert errors == []


def test_four_participants_hold_a_mesh_call(live: Live, browser: Any) -> None:
    _visit_id, patient_token, clinician_token = live.book_now()
    patient, clinician, errors = enter_call(browser, live, patient_token, clinician_token)
    pages = [patient, clinician]
    for role, name in (("interpreter", "Interpreter"), ("caregiver", "Family")):
        link = httpx.post(
            f"{live.base_url}/v1/visit-session/participants",
            headers={"X-Visit-Token": clinician_token},
            json={"role": role, "display_name": name},
        ).json()
        guest = browser.new_context().new_page()
        guest.on("pageerror", lambda exc: errors.append(str(exc)))
        guest.goto(f"{live.base_url}/visits/join#token={link['token']}")
        guest.wait_for_selector("#enter-waiting:not([hidden])")
        guest.click("#enter-waiting")
        clinician.click(f"#admit-{link['participant_id']}", timeout=30_000)
        pages.append(guest)
    # Four pages each encoding three streams: slow on a small machine, so a long wait.
    assert eventually(lambda: all(peers_decoding(page) == 3 for page in pages), seconds=120)
    shot(clinician, "visits-06-four-party-call")
    # The interpreter's socket drops (a network change): it reconnects by itself and the
    # others connect to it again.
    interpreter = pages[2]
    seen = [first_frames(page) for page in pages]
    interpreter.evaluate("window.__visit.socket.close()")
    assert eventually(
        lambda: (
            all(first_frames(page) > before for page, before in zip(pages, seen, strict=True))
            and all(peers_decoding(page) == 3 for page in pages)
        ),
        seconds=120,
    )
    assert errors == []


ICE_RESTART = """async () => {
    const [id, entry] = [...window.__visit.peers.entries()][0];
    window.__restarted = entry.pc;
    await entry.pc.setLocalDescription(await entry.pc.createOffer({ iceRestart: true }));
    window.visitRoom.send({ type: "offer", to: id, sdp: entry.pc.localDescription.sdp });
}"""


def test_an_ice_restart_renegotiates_the_same_connection(live: Live, browser: Any) -> None:
    """What the offering side sends when its connection drops: the other side answers on the
    connection it has (the same SDP session) instead of building a new one."""
    _visit_id, patient_token, clinician_token = live.book_now()
    patient, clinician, errors = enter_call(browser, live, patient_token, clinician_token)
    assert eventually(lambda: peers_decoding(patient) == 1 and peers_decoding(clinician) == 1)
    # Whoever offered restarts: the clinician when admitting, the patient when the clinician's
    # socket announced itself after the admission.
    offerer, other = sorted(
        (patient, clinician),
        key=lambda page: not page.evaluate("[...window.__visit.peers.values()][0].offerer"),
    )
    other.evaluate("window.__kept = [...window.__visit.peers.values()][0].pc")
    answers = "window.__visit.trace.filter((t) => t[0] === 'answer').length"
    before = offerer.evaluate(answers)
    offerer.evaluate(ICE_RESTART)

    def renegotiated() -> bool:
        stable = offerer.evaluate("window.__restarted.signalingState === 'stable'")
        return bool(stable and offerer.evaluate(answers) > before)

    assert eventually(renegotiated)
    assert other.evaluate("[...window.__visit.peers.values()][0].pc === window.__kept")
    assert offerer.evaluate("[...window.__visit.peers.values()][0].pc === window.__restarted")
    frames = frames_decoded(other)
    assert eventually(lambda: frames_decoded(other) > frames + 10)
    assert errors == []
