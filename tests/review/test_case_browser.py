"""A reviewing clinician's journey in headless Chromium: from the review queue, claim a case and
see who the patient is (the patient banner) before writing the report, at desktop and phone
width. The case is set up through the API; everything after is the pages. Screenshots go to
``test-artifacts/portal/``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from telehealth.identity.model import age_on
from tests.browser import chromium, need_browser
from tests.portal.live import DESKTOP, PHONE, Live, live_server, shot
from tests.review.support import case_body

pytestmark = pytest.mark.slow


@pytest.fixture
def live(sqlite_template: Path, tmp_path: Path) -> Iterator[Live]:
    need_browser()
    with live_server(sqlite_template, tmp_path) as server:
        yield server


def _api(live: Live, key: str, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, live.url(path), headers=live.world[key].headers, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


def _submitted_case(live: Live) -> tuple[str, str]:
    """Patient A (recorded as female) sends a dermatology case: its id and A's record number."""
    patient = f"/v1/patients/{live.world['patient_a'].patient_id}"
    version = _api(live, "coordinator", "GET", patient)["version"]
    record = _api(live, "coordinator", "PATCH", patient, json={"sex": "female", "version": version})
    case = _api(live, "patient_a", "POST", "/v1/cases", json=case_body())
    _api(live, "patient_a", "POST", f"/v1/cases/{case['id']}/submit")
    return str(case["id"]), str(record["record_number"])


def test_a_reviewer_claims_a_case_and_sees_who_the_patient_is_before_reporting(
    live: Live,
) -> None:
    case_id, number = _submitted_case(live)
    # The live server reads the real clock; so does the age the banner shows.
    age = age_on(datetime(1970, 1, 1, tzinfo=UTC).date(), datetime.now(UTC).date())
    with chromium() as browser:
        for viewport, size in ((DESKTOP, "1280"), (PHONE, "390")):
            context = browser.new_context(viewport=viewport, timezone_id="America/Chicago")
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            live.sign_in(page, "clinician_a")
            page.goto(live.url("/review"))
            page.click(f"a[href='/review/cases/{case_id}']")
            page.wait_for_url(live.url(f"/review/cases/{case_id}"))
            # The banner is there from the first look, before anything is claimed.
            banner = page.locator("section.patient-banner")
            assert "CanaryA SecretA" in banner.inner_text()
            if size == "1280":
                page.click("button:has-text('Claim this case')")
                page.wait_for_selector("#write-h")
            else:
                assert page.is_visible("#write-h")  # claimed at the desktop
            text = " ".join(banner.inner_text().split())
            for words in (
                "CanaryA SecretA",
                f"{age} years",
                "01 Jan 1970",
                "Female",
                "TX",
                number,
            ):
                assert words in text, (words, text)
            # Who the patient is comes before the report the reviewer writes.
            top = banner.bounding_box()
            report = page.locator("#write-h").bounding_box()
            assert top is not None
            assert report is not None
            assert top["y"] < report["y"]
            shot(page, f"review-banner-{size}-case-claimed")
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            assert errors == []
            context.close()
