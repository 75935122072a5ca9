"""Headless Chromium through booking by the pages only: (a) a patient books two visits, cancels
one and moves the other; (b) a coordinator creates a clinician, records a license, sets hours on
several weekdays at once and books a visit for a patient whose time zone is unknown. Every page
is checked at 390 px (no sideways scroll) and by axe-core; screenshots at 1280 and 390 px go to
``test-artifacts/portal/``. Setup (the clinician's hours for journey a) is the only work done
outside the pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time
from pathlib import Path
from typing import Any

import pytest

from telehealth.visits import availability, model, repository
from tests.browser import chromium, need_browser
from tests.portal.live import AXE, DESKTOP, FITS, PHONE, Live, live_server, scan, shot
from tests.visits.live import VISIT_PAGE, book_through_pages
from tests.visits.support import acting, services_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    need_browser()
    with live_server(sqlite_template, tmp_path_factory.mktemp("booking-live")) as server:
        services = services_of(server.app)
        clinician_id = server.world["clinician_a"].user_id
        with acting(services, server.world["coordinator"].user_id) as scope:
            if not repository.windows_of(scope.session, clinician_id):
                for weekday in range(7):
                    availability.add_window(
                        scope,
                        clinician_id,
                        model.WeeklyWindow("America/Chicago", weekday, time(8), time(18), 30),
                    )
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _page(browser: Any, live: Live, key: str, zone: str) -> Any:
    context = browser.new_context(viewport=PHONE, timezone_id=zone)
    page = context.new_page()
    live.sign_in(page, key)
    return page


def check(page: Any, name: str, problems: list[str]) -> None:
    """The page at 390 px (no sideways scroll, no serious axe-core violation) and screenshots at
    390 and 1280 px."""
    page.wait_for_load_state("networkidle")
    if not page.evaluate(FITS):
        problems.append(f"{name}: scrolls sideways at 390 px")
    problems.extend(scan(page))
    shot(page, f"7-{name}-390")
    page.set_viewport_size(DESKTOP)
    shot(page, f"7-{name}-1280")
    page.set_viewport_size(PHONE)


def _book_first_free(page: Any, index: int, problems: list[str], name: str | None) -> str:
    """Books clinician A's free time ``index`` through the pages, checking each step if named."""
    step = (lambda part: check(page, f"{name}-{part}", problems)) if name else None
    return book_through_pages(page, index, step)


def test_a_patient_books_cancels_and_reschedules(live: Live, browser: Any) -> None:
    assert AXE.exists(), "run `npm ci` for axe-core"
    problems: list[str] = []
    errors: list[str] = []
    page = _page(browser, live, "patient_a", "America/Chicago")
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.click("a[href='/visits/book']")
    page.wait_for_selector("#what-h")
    assert page.input_value("#book-state") == "TX"
    check(page, "01-patient-intake", problems)
    first = _book_first_free(page, 0, problems, "02-patient")
    check(page, "03-patient-booked", problems)
    page.goto(live.url("/visits/book"))
    second = _book_first_free(page, 1, problems, None)
    assert first != second

    page.goto(live.url(first))
    page.click("text=Cancel the visit")
    page.wait_for_selector("#cancel-confirm")
    check(page, "04-patient-cancel-confirm", problems)
    page.click("#cancel-confirm")
    page.wait_for_url(VISIT_PAGE)
    assert page.is_visible("text=The visit is cancelled")
    assert page.locator("strong", has_text="Cancelled").count() == 1

    page.goto(live.url(second))
    before = page.locator("h1 time").get_attribute("datetime")
    page.click("text=Choose another time")
    page.wait_for_selector("#move-form")
    check(page, "05-patient-reschedule", problems)
    page.locator("input[name=slot_start]").nth(4).check()
    page.click("#move-confirm")
    page.wait_for_url(VISIT_PAGE)
    assert page.is_visible("text=The visit is moved to its new time")
    assert page.locator("h1 time").get_attribute("datetime") != before
    page.context.close()
    assert not errors, errors
    assert not problems, problems


def test_a_coordinator_sets_hours_for_a_new_clinician_and_books(live: Live, browser: Any) -> None:
    problems: list[str] = []
    errors: list[str] = []
    page = _page(browser, live, "coordinator", "America/New_York")
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(live.url("/admin/users"))
    page.fill("#staff-name", "Dr Hours")
    page.fill("#staff-email", "dr.hours@example.test")
    page.select_option("#staff-role", "clinician")
    page.click("form[action='/admin/users'] button[type=submit]")
    page.wait_for_selector("#invite-url")
    page.goto(live.url("/admin/users"))
    page.locator("tr", has_text="Dr Hours").locator("a[href^='/admin/clinicians/']").click()
    page.wait_for_selector("#lic-h")
    page.select_option("#lic-state", "TX")
    page.select_option("#lic-kind", "full")
    page.fill("#lic-number", "TX-HOURS-1")
    page.click("form[action$='/licenses'] button[type=submit]")
    page.wait_for_selector("td:has-text('TX-HOURS-1')")
    page.locator("#languages-form input[value=es]").check()
    page.click("#languages-form button[type=submit]")
    page.wait_for_selector("#languages-form input[value=es]:checked")
    check(page, "10-coordinator-clinician", problems)

    page.click("a[href='/admin/schedules']")
    section = page.locator("section", has=page.locator("h2", has_text="Dr Hours"))
    section.locator("summary").click()
    section.locator("input[name=time_zone]").fill("America/New_York")
    for day in ("Saturday", "Sunday"):
        section.locator("label", has_text=day).locator("input").check()
    section.locator("input[name=start]").fill("08:00")
    section.locator("input[name=end]").fill("11:00")
    check(page, "11-coordinator-hours-form", problems)
    section.locator("button", has_text="Add hours").click()
    page.wait_for_url(live.url("/admin/schedules"))
    section = page.locator("section", has=page.locator("h2", has_text="Dr Hours"))
    assert section.locator(".window-list li").count() == 7
    assert section.locator("text=America/New York").count() == 1
    check(page, "12-coordinator-hours-listed", problems)
    section.locator(".window-list li", has_text="Sunday").locator("button").click()
    page.wait_for_url(live.url("/admin/schedules"))
    section = page.locator("section", has=page.locator("h2", has_text="Dr Hours"))
    assert section.locator(".window-list li").count() == 6

    page.goto(live.url("/"))
    page.click("a[href='/visits/book']")
    page.select_option("#book-patient", str(live.world["patient_b"].patient_id))
    page.click("#book-form button[value=intake]")
    page.wait_for_selector("#what-h")
    page.select_option("#book-language", "es")
    page.click("#book-form button[value=clinicians]")
    page.wait_for_selector("#clin-h")
    assert page.locator("label", has_text="clinician_a").count() == 0  # speaks no Spanish
    page.locator("label", has_text="Dr Hours").locator("input").check()
    page.click("#book-form button[value=slots]")
    page.wait_for_selector("text=We do not know the patient's time zone")
    check(page, "13-coordinator-times", problems)
    page.locator("input[name=slot_start]").first.check()
    page.click("#book-form button[value=confirm]")
    page.click("#book-confirm")
    page.wait_for_url(VISIT_PAGE)
    assert page.is_visible("text=The visit is booked")
    check(page, "14-coordinator-booked", problems)
    page.context.close()
    assert not errors, errors
    assert not problems, problems
