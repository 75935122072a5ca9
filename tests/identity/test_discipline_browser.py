"""Headless Chromium: an administrator records a clinician's discipline from the users page and
reads it back in words on the clinician's page and the clinician's row. Both pages fit 390 px
and pass axe-core; screenshots in ``test-artifacts/portal/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium, need_browser
from tests.portal.live import AXE, FITS, PHONE, Live, live_server, scan, shot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    need_browser()
    with live_server(sqlite_template, tmp_path_factory.mktemp("discipline-live")) as server:
        yield server


def test_an_administrator_records_a_clinicians_discipline(live: Live) -> None:
    assert AXE.exists(), "run `npm ci` for axe-core"
    with chromium() as browser:
        context = browser.new_context(viewport=PHONE, timezone_id="America/Chicago")
        page: Any = context.new_page()
        live.sign_in(page, "admin")
        page.goto(live.url("/admin/users"))
        row = page.locator("tr", has_text="clinician_a@example.test")
        assert "Not recorded" in row.inner_text()
        row.get_by_role("link").click()
        page.wait_for_url(f"**/admin/clinicians/{live.world['clinician_a'].user_id}")
        assert page.inner_text("#discipline-shown") == "not recorded"
        page.get_by_label("Licensed discipline").select_option(label="Physical therapist")
        page.click("#discipline-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.inner_text("#discipline-shown") == "Physical therapist"
        assert page.evaluate(FITS)
        assert scan(page) == []
        shot(page, "clinician-discipline-390")
        page.goto(live.url("/admin/users"))
        row = page.locator("tr", has_text="clinician_a@example.test")
        assert "Physical therapist" in row.inner_text()
        assert page.evaluate(FITS)
        assert scan(page) == []
        context.close()
