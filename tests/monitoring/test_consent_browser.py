"""Headless Chromium: a clinician sees that a Nebraska patient's verbal consent awaits its
signed statement and records the signed consent from the enrollment page (390 px, axe-core)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from telehealth.identity.tables import Patient
from telehealth.monitoring import model
from telehealth.monitoring import service as monitoring
from tests.browser import chromium, need_browser
from tests.portal.live import FITS, PHONE, Live, live_server, scan, shot
from tests.visits.support import acting, license_clinician_a, services_of

pytestmark = pytest.mark.slow


@pytest.fixture
def live(sqlite_template: Path, tmp_path: Path) -> Iterator[Live]:
    need_browser()
    with live_server(sqlite_template, tmp_path) as server:
        yield server


@pytest.fixture
def browser(live: Live) -> Iterator[Any]:
    with chromium() as found:
        yield found


def _nebraska_enrollment(live: Live) -> str:
    """Patient A lives in Nebraska and was enrolled on verbal consent (seed data)."""
    world = live.world
    services = services_of(live.app)
    license_clinician_a(services, world, "NE")
    with acting(services, world["admin"].user_id) as scope:
        patient = scope.session.get(Patient, world["patient_a"].patient_id)
        assert patient is not None
        patient.home_state = "NE"
    with acting(services, world["clinician_a"].user_id) as scope:
        now = scope.clock.now()
        data = monitoring.EnrollmentInput(
            model.Program.HYPERTENSION, "medicare", now.date(), None, "patient", "verbal", now
        )
        assert world["patient_a"].patient_id is not None
        return str(monitoring.enroll(scope, world["patient_a"].patient_id, data).id)


def test_clinician_records_the_signed_consent_verbal_consent_awaited(
    live: Live, browser: Any
) -> None:
    enrollment_id = _nebraska_enrollment(live)
    context = browser.new_context(viewport=PHONE, timezone_id="America/Chicago")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    live.sign_in(page, "clinician_a")
    page.goto(live.url(f"/monitoring/enrollments/{enrollment_id}"))
    # The consent panel arrives after the page, from its own route.
    page.wait_for_selector("#consent-signature-due")
    due = page.inner_text("#consent-signature-due")
    assert "A signed statement is due by" in due
    assert "CST" in due or "CDT" in due  # in the viewer's zone
    page.click("#consent summary")
    assert page.eval_on_selector_all("#consent-method option", "els => els.map(e => e.value)") == [
        "written",
        "electronic",
    ]
    assert page.evaluate(FITS)
    problems = scan(page)
    shot(page, "monitoring-consent-due")
    page.select_option("#consent-method", "written")
    page.click("#consent-record")
    page.wait_for_selector("#consent:has-text('(written)')")
    assert page.query_selector("#consent-signature-due") is None
    assert problems == []
    assert errors == []
    context.close()
