"""Headless Chromium: a coordinator reads the cliff report at 390 px (fits, axe-clean), with a
visit and a monitoring enrollment in it, and finds the download link. Screenshot in
``test-artifacts/portal/``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from telehealth.identity import queries as identity_queries
from telehealth.monitoring import service as monitoring
from telehealth.monitoring.model import Program
from telehealth.visits import availability
from tests.browser import chromium, need_browser
from tests.portal.live import AXE, Live, live_server, shot
from tests.portal.test_browser import scan
from tests.portal.test_impact import MEDICARE_HOME
from tests.visits.support import acting, book, ensure_availability, services_of

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}
FITS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


@pytest.fixture(scope="module")
def live(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    need_browser()
    with live_server(sqlite_template, tmp_path_factory.mktemp("impact-live")) as server:
        yield server


def test_coordinator_reads_the_cliff_report_on_a_phone(live: Live) -> None:
    assert AXE.exists(), "run `npm ci` for axe-core"
    # The live server runs on the real clock: book the next free slot from now.
    services = services_of(live.app)
    ensure_availability(services, live.world)
    with acting(services, live.world["coordinator"].user_id) as scope:
        now = scope.clock.now()
        clinician = live.world["clinician_a"].user_id
        slot = availability.free_slots(scope, clinician, now, now + timedelta(days=7))[0][0]
    book(services, live.world, intake=MEDICARE_HOME, slot=slot)
    # A monitored patient of a physical therapist: Medicare's telehealth coverage ends too.
    with acting(services, live.world["clinician_a"].user_id) as scope:
        now = scope.clock.now()
        profile = identity_queries.clinician_profile(scope.session, scope.require_actor().user_id)
        assert profile is not None
        profile.discipline = "pt"
        patient_id = live.world["patient_a"].patient_id
        assert patient_id is not None
        data = monitoring.EnrollmentInput(
            Program.HYPERTENSION,
            "medicare",
            now.date(),
            None,
            "patient",
            "verbal",
            now - timedelta(hours=1),
        )
        monitoring.enroll(scope, patient_id, data)
    with chromium() as browser:
        context = browser.new_context(viewport=PHONE, timezone_id="America/Chicago")
        page: Any = context.new_page()
        live.sign_in(page, "coordinator")
        page.goto(live.url("/"))
        page.click("text=Policy impact")
        page.fill("#impact-from", "2026-12-01")
        page.fill("#impact-to", "2028-01-02")
        page.click("button:has-text('Compare')")
        page.wait_for_load_state("networkidle")
        assert page.is_visible("text=Download CSV")
        assert page.locator("text=not covered").count() >= 1
        assert page.locator("strong:text-is('Enrollment')").count() >= 1
        assert page.locator("strong:text-is('Visit')").count() >= 1
        assert page.evaluate(FITS)
        assert scan(page) == []
        shot(page, "impact-coordinator-390")
        context.close()
