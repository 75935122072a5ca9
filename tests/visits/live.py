"""A real uvicorn server on loopback for end-to-end visit tests (SQLite, system clock)."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI

from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Environment, Settings, VisitSettings
from telehealth.visits import availability, booking, model
from tests.serving import serving
from tests.support import World, seed_world
from tests.visits.support import INTAKE, acting, link_for, services_of

# book_now, like a patient booking the first free time, takes the next free half-hour slot,
# which may start up to 30 minutes from now: the live servers open waiting rooms early enough.
LIVE_LEAD_MINUTES = 60


@dataclass
class Live:
    base_url: str
    app: FastAPI
    world: World

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/v1/visit-session/signal"

    def open_hours(self) -> None:
        """Clinician A sees patients around the clock, in a zone where it is about noon now, so
        that the next free half-hour slot is at most 30 minutes away (seed data, not a step)."""
        services = services_of(self.app)
        clinician = self.world["clinician_a"].user_id
        with acting(services, self.world["coordinator"].user_id) as scope:
            if not availability.windows(scope, clinician):
                zone = _noon_zone(scope.clock.now())
                for weekday in range(7):
                    availability.add_window(
                        scope,
                        clinician,
                        model.WeeklyWindow(zone, weekday, wall(0, 0), wall(23, 30), 30),
                    )

    def book_now(self, intake: booking.Intake = INTAKE) -> tuple[uuid.UUID, str, str]:
        """A visit in the next free slot, with the patient's and the clinician's join tokens."""
        self.open_hours()
        services = services_of(self.app)
        world = self.world
        clinician = world["clinician_a"].user_id
        with acting(services, world["coordinator"].user_id) as scope:
            now = scope.clock.now()
            slot = availability.free_slots(scope, clinician, now, now + timedelta(days=2))[0][0]
            patient_id = world["patient_a"].patient_id
            assert patient_id is not None
            visit, _ = booking.book(
                scope, patient_id=patient_id, clinician_id=clinician, slot_start=slot, intake=intake
            )
        return (
            visit.id,
            link_for(services, visit.id, world["patient_a"].user_id),
            link_for(services, visit.id, clinician),
        )


@contextmanager
def live_server(
    template: Path, workdir: Path, visits: VisitSettings | None = None
) -> Iterator[Live]:
    database = workdir / "live.db"
    shutil.copyfile(template, database)
    probe = Settings(
        env=Environment.TEST,
        data_dir=workdir / "data",
        database_url=f"sqlite:///{database}",
        visits=visits or VisitSettings(waiting_room_lead_minutes=LIVE_LEAD_MINUTES),
    )
    world = seed_world(probe, FrozenClock(datetime.now(UTC)))
    app = create_app(probe)
    with serving(app) as url:
        yield Live(url, app, world)


def enter_call(
    browser: Any, live: Live, patient_token: str, clinician_token: str
) -> tuple[Any, Any, list[str]]:
    """The patient goes through intake into the waiting room, the clinician opens their room
    (camera and microphone on) and admits them: the two pages, and the page errors they raise
    from then on."""
    patient, clinician, errors = patient_waiting(browser, live, patient_token, clinician_token)
    open_room(clinician)
    clinician.click("button.admit")
    return patient, clinician, errors


def patient_waiting(
    browser: Any, live: Live, patient_token: str, clinician_token: str
) -> tuple[Any, Any, list[str]]:
    """The patient goes through intake into the waiting room and the clinician's page opens,
    their room not yet: the two pages, and the page errors they raise from then on."""
    patient = browser.new_context().new_page()
    clinician = browser.new_context().new_page()
    errors: list[str] = []
    for page in (patient, clinician):
        page.on("pageerror", lambda exc: errors.append(str(exc)))

    patient.goto(f"{live.base_url}/visits/join#token={patient_token}")
    assert "#token" not in patient.url  # the page drops the token from the address bar
    through_intake(patient)
    clinician.goto(f"{live.base_url}/visits/join#token={clinician_token}")
    return patient, clinician, errors


def open_room(clinician: Any) -> None:
    """The clinician opens their room and waits until they may admit: their media is on and
    their socket is in the call."""
    clinician.wait_for_selector("#open-room:not([hidden])")
    clinician.click("#open-room")
    clinician.wait_for_selector("button.admit:not([disabled])", timeout=30_000)


def through_intake(patient: Any) -> None:
    """From the visit page's first step to the waiting room: location, consent, pre-call."""
    located_and_consented(patient)
    patient.click("#precall-run")
    patient.wait_for_selector("#precall-results[data-done='1']", state="attached", timeout=30_000)
    patient.click("#enter-waiting")
    patient.wait_for_selector("#queue:has-text('number 1')")


def located_and_consented(patient: Any) -> None:
    """The patient says they are in Texas and consents in writing."""
    patient.wait_for_selector("#step-location:not([hidden])")
    patient.select_option("#location-state", "TX")
    patient.click("#confirm-location")
    patient.wait_for_selector("#step-consent:not([hidden])")
    patient.check("#consent-agree")
    patient.click("#consent-submit")
    patient.wait_for_selector("#step-consent[hidden]", state="attached")


def _noon_zone(now: datetime) -> str:
    """A fixed-offset zone whose clock reads about noon now, so that the next free slot is on
    the clinician's today at whatever hour (UTC) the tests run. The Etc zones' signs are
    POSIX's: ``Etc/GMT-12`` is twelve hours east of UTC."""
    hours_east = 12 - now.hour
    return f"Etc/GMT{-hours_east:+d}"


PEER_FRAMES = """() => Promise.all([...window.__visit.peers.values()].map((entry) =>
    entry.pc.getStats().then((report) => {
        let frames = 0;
        report.forEach((s) => {
            if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
        });
        return frames;
    })))"""


def peers_decoding(page: Any, frames: int = 10) -> int:
    """How many of the page's peer connections have decoded more than ``frames`` video frames."""
    return sum(1 for n in page.evaluate(PEER_FRAMES) if n > frames)


def first_frames(page: Any) -> int:
    """How many remote videos have rendered a first frame on this page so far."""
    return int(page.evaluate("window.__visit.trace.filter((t) => t[0] === 'first-frame').length"))


VISIT_PAGE = re.compile(r".*/visits/[0-9a-f-]{36}\?done=\w+$")


def book_through_pages(
    page: Any, index: int, step: Callable[[str], None] | None = None, clinician: str = "clinician_a"
) -> str:
    """From the booking page's first step: the intake as it comes (home state, any kind of care),
    the clinician named, the free time ``index``; ``step`` is called on each step's page with its
    name. Returns the booked visit's path."""
    page.click("#book-form button[value=clinicians]")
    page.wait_for_selector("#clin-h")
    page.locator("label", has_text=clinician).locator("input").check()
    if step:
        step("clinicians")
    page.click("#book-form button[value=slots]")
    page.wait_for_selector("#time-h")
    assert page.locator("time[data-localized='1']").count() > 0
    page.locator("input[name=slot_start]").nth(index).check()
    if step:
        step("times")
    page.click("#book-form button[value=confirm]")
    page.wait_for_selector("#confirm-h")
    if step:
        step("confirm")
    page.click("#book-confirm")
    page.wait_for_url(VISIT_PAGE)
    assert page.is_visible("text=The visit is booked")
    return urlsplit(page.url).path
