"""Arriving from another site: Chromium follows a link from a page on ``localhost`` to the app
on ``127.0.0.1`` (different sites) and lands signed in; a form on that page posting to the app
changes nothing (ADR 0009). The server runs on the real clock, as the browser does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from telehealth.web.auth import SESSION_COOKIE
from tests.browser import chromium, need_browser
from tests.portal.live import Live, live_server, shot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    need_browser()
    with live_server(sqlite_template, tmp_path_factory.mktemp("cross-site")) as server:
        yield server


@contextmanager
def another_site(html: str) -> Iterator[str]:
    """A tiny server for one page, reached as ``localhost``: a site other than the app's."""
    body = html.encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def session_cookies(context: Any) -> list[str]:
    return [c["value"] for c in context.cookies() if c["name"] == SESSION_COOKIE]


def test_a_link_from_another_site_arrives_signed_in_and_its_post_is_refused(
    live: Live,
) -> None:
    html = (
        "<!doctype html><title>mail</title>"
        f'<a id="link" href="{live.url("/visits")}">Your appointments</a>'
        f'<form id="forged" method="post" action="{live.url("/logout")}">'
        '<button id="send" type="submit">Claim your prize</button></form>'
    )
    with chromium() as browser, another_site(html) as elsewhere:
        context = browser.new_context()
        page = context.new_page()
        live.sign_in(page, "patient_a")
        signed_in = session_cookies(context)
        assert len(signed_in) == 1

        page.goto(elsewhere)
        page.click("#link")
        page.wait_for_url(live.url("/visits"))
        shot(page, "cross-site-01-link-lands-signed-in")
        assert page.is_visible("form.signout")
        assert session_cookies(context) == signed_in

        page.goto(elsewhere)
        page.click("#send")
        page.wait_for_load_state()
        # The forged sign-out reached the app without the session: it was refused, and the
        # cookie the browser keeps is untouched.
        assert session_cookies(context) == signed_in
        page.goto(live.url("/visits"))
        assert page.url == live.url("/visits")
        assert page.is_visible("form.signout")
        context.close()
