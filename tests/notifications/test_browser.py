"""A notification in headless Chromium: the bell counts it, the inbox lists it, opening it leads
to its page and the count drops; its email's link (to the address the server is served on, no
public URL set) opens the page signed in, or after sign-in when the browser has no session.

Screenshots are written to ``test-artifacts/portal/`` (notifications-*.png).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Environment, Settings
from telehealth.jobs import registered, run_job
from tests.browser import chromium, need_browser
from tests.notifications.smtp import Mailbox, free_port, smtp_server
from tests.portal.live import Live, shot
from tests.serving import serving
from tests.support import PASSWORD, seed_world
from tests.visits.live import Live as VisitsLive

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}


@contextmanager
def mailing_server(template: Path, workdir: Path) -> Iterator[tuple[Live, Mailbox]]:
    """The app served as ``telehealth serve --port N`` serves it, with no public URL and an
    SMTP server to send to."""
    database = workdir / "live.db"
    shutil.copyfile(template, database)
    port = free_port()
    settings = Settings(
        env=Environment.TEST,
        data_dir=workdir / "data",
        database_url=f"sqlite:///{database}",
        api_token_minutes=24 * 60,
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        public_url=None,
    ).served_at("127.0.0.1", port)
    world = seed_world(settings, FrozenClock(datetime.now(UTC)), with_passwords=True)
    app = create_app(settings)
    with smtp_server(settings.smtp_port) as mailbox, serving(app, port) as url:
        yield Live(url, app, world), mailbox


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


def _send_emails(live: Live) -> None:
    [sender] = [job for job in registered() if job.name == "notifications.send_emails"]
    services = live.app.state.services
    assert run_job(sender, services.sessions, services.ports) >= 1


def _link_to(mailbox: Mailbox, address: str) -> str:
    for recipients, content in mailbox.received:
        if recipients == [address]:
            body = message_from_bytes(content, policy=default).get_body()
            assert body is not None
            found = re.search(r"http://\S+", body.get_content())
            assert found is not None
            return found.group()
    raise AssertionError(f"no email to {address}")


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

    _send_emails(server)
    link = _link_to(mailbox, server.world["patient_a"].email)
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
