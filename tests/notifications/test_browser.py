"""A notification in headless Chromium: the bell counts it, the inbox lists it, opening it leads
to its page and the count drops; its email's link (to the address the server is served on, no
public URL set) opens the page signed in, or after sign-in when the browser has no session.

Screenshots are written to ``test-artifacts/portal/`` (notifications-*.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium, need_browser
from tests.notifications.mailing import link_to, mailing_server, send_emails
from tests.notifications.smtp import Mailbox
from tests.portal.live import Live, shot
from tests.support import PASSWORD
from tests.visits.live import Live as VisitsLive

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def live(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Live, Mailbox]]:
    need_browser()
    with mailing_server(sqlite_template, tmp_path_factory.mktemp("notify-live")) as found:
        yield found


@pytest.fixture(scope="module")
def browser(live: Any) -> Iterator[Any]:
    with chromium() as found:
        yield found


def _bell(page: Any) -> str:
    """The bell's accessible name: its text, the visually hidden words included."""
    return str(page.locator("a.bell").text_content())


def test_a_booked_visit_is_in_the_bell_the_inbox_and_an_email_that_opens_it(
    live: tuple[Live, Mailbox], browser: Any
) -> None:
    server, mailbox = live
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    server.sign_in(page, "patient_a")
    assert _bell(page) == "Notifications, 0 unread"

    visit_id, _, _ = VisitsLive(server.base_url, server.app, server.world).book_now()
    page.reload()
    assert _bell(page) == "Notifications, 1 unread"
    assert page.locator("a.bell .bell-count").inner_text() == "1"
    shot(page, "notifications-1-bell")

    page.click("a.bell")
    page.wait_for_url(server.url("/notifications"))
    item = page.locator(".inbox li")
    assert item.count() == 1
    assert item.first.locator("a.title").inner_text() == "A visit was booked"
    assert "Unread" in item.first.inner_text()
    # 390 px wide: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "notifications-2-inbox-390px")

    item.first.locator("a.title").click()
    page.wait_for_url(server.url(f"/visits/{visit_id}"))
    assert _bell(page) == "Notifications, 0 unread"
    shot(page, "notifications-3-opened")

    send_emails(server)
    link = link_to(mailbox, server.world["patient_a"].email)
    # No public URL is set: the link names the address the server is served on.
    assert link.startswith(server.base_url + "/notifications/")

    page.goto(link)  # a signed-in browser follows the emailed link
    page.wait_for_url(server.url(f"/visits/{visit_id}"))
    assert page.locator("h1").count() == 1
    context.close()

    fresh = browser.new_context(viewport=PHONE)
    signed_out = fresh.new_page()
    signed_out.goto(link)
    assert signed_out.url.startswith(server.url("/login?next="))
    signed_out.fill("#email", server.world["patient_a"].email)
    signed_out.fill("#password", PASSWORD)
    shot(signed_out, "notifications-4-email-link-sign-in")
    signed_out.click("form[action='/login'] button[type=submit]")
    signed_out.wait_for_url(server.url(f"/visits/{visit_id}"))
    shot(signed_out, "notifications-5-email-link-page")
    fresh.close()
