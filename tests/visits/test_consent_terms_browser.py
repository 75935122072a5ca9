"""A state that wants signed consent, in headless Chromium: the patient reads what is needed
in plain words and signs; the clinician is told why verbal consent is not offered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from telehealth.visits import booking
from tests.browser import need_browser
from tests.portal.live import shot
from tests.visits.live import Live, live_server
from tests.visits.support import license_clinician_a, services_of

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}
GEORGIA_MEDICAID = booking.Intake(
    located_state="GA", acuity="routine", purpose="follow_up", payer="medicaid"
)


@pytest.fixture
def live(sqlite_template: Path, tmp_path: Path) -> Iterator[Live]:
    need_browser()
    with live_server(sqlite_template, tmp_path) as server:
        license_clinician_a(services_of(server.app), server.world, "GA")
        yield server


def test_georgia_medicaid_patient_signs_and_the_clinician_cannot_record_verbal_consent(
    live: Live, browser: Any
) -> None:
    _visit_id, patient_token, clinician_token = live.book_now(GEORGIA_MEDICAID)
    errors: list[str] = []
    clinician = browser.new_context().new_page()
    clinician.on("pageerror", lambda exc: errors.append(str(exc)))
    clinician.goto(f"{live.base_url}/visits/join#token={clinician_token}")
    clinician.wait_for_selector("#host-consent:has-text('Consent needed')")
    assert "only a signed consent counts" in clinician.inner_text("#host-consent")
    shot(clinician, "visit-consent-clinician")
    assert clinician.is_hidden("#record-verbal-consent")

    patient = browser.new_context(viewport=PHONE).new_page()
    patient.on("pageerror", lambda exc: errors.append(str(exc)))
    patient.goto(f"{live.base_url}/visits/join#token={patient_token}")
    patient.wait_for_selector("#step-location:not([hidden])")
    patient.select_option("#location-state", "GA")
    patient.click("#confirm-location")
    patient.wait_for_selector("#step-consent:not([hidden])")
    shot(patient, "visit-consent-signed-form")
    needs = patient.inner_text("#consent-requirements")
    assert "Your state asks for your signed consent" in needs
    for jargon in ("consent.terms", "Medicaid", "cchpca", "§"):
        assert jargon not in needs
    patient.check("#consent-agree")
    patient.click("#consent-submit")
    patient.wait_for_selector("#step-consent[hidden]", state="attached")

    clinician.reload()
    clinician.wait_for_selector("#host-consent:has-text('Consent on file')")
    assert errors == []
