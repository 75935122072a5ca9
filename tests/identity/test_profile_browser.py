"""Headless Chromium: a time on a page shows in the browser's zone until the viewer chooses one
on their profile, then in that zone. The profile page fits 390 px and passes axe-core."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium, need_browser
from tests.portal.live import AXE, FITS, PHONE, Live, live_server, scan, shot

pytestmark = pytest.mark.slow

SHOWN = "#zone-help time[data-localized='1']"


@pytest.fixture(scope="module")
def live(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    need_browser()
    with live_server(sqlite_template, tmp_path_factory.mktemp("profile-live")) as server:
        yield server


@pytest.fixture
def patient(live: Live) -> Iterator[Any]:
    with chromium() as browser:
        # The browser's own zone: New York.
        context = browser.new_context(viewport=PHONE, timezone_id="America/New_York")
        page = context.new_page()
        live.sign_in(page, "patient_a")
        yield page
        context.close()


def test_times_follow_the_browser_then_the_zone_chosen_on_the_profile(
    live: Live, patient: Any
) -> None:
    assert AXE.exists(), "run `npm ci` for axe-core"
    page = patient
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(live.url("/"))
    page.click("a[href='/profile']")
    page.wait_for_url(live.url("/profile"))
    # No zone chosen: the browser's.
    assert re.search(r"\bE[SD]T\b", page.inner_text(SHOWN))
    assert page.evaluate(FITS), "the profile page scrolls sideways at 390 px"
    assert scan(page) == []
    shot(page, "profile-1-browser-zone")

    page.select_option("#time_zone", "America/Los_Angeles")
    page.click("form[action='/profile'] button[type=submit]")
    page.wait_for_url("**/profile?saved=1")
    assert re.search(r"\bP[SD]T\b", page.inner_text(SHOWN))
    assert page.get_attribute("body", "data-time-zone") == "America/Los_Angeles"
    assert page.evaluate(FITS)
    assert scan(page) == []
    shot(page, "profile-2-chosen-zone")

    # Back to the browser's zone.
    page.select_option("#time_zone", "")
    page.click("form[action='/profile'] button[type=submit]")
    page.wait_for_url("**/profile?saved=1")
    assert re.search(r"\bE[SD]T\b", page.inner_text(SHOWN))
    assert errors == []
