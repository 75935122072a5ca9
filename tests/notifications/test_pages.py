"""The bell in the layout and the inbox page: counts, pages, marking read, opening, refusals,
and sign-in leading back to the page asked for."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from telehealth.audit.tables import AuditRow
from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.notifications.pages import PER_PAGE
from telehealth.notifications.service import notify
from telehealth.notifications.tables import Notification
from tests.portal.support import sign_in
from tests.support import PASSWORD, World, scope_for, seed_world

pytestmark = pytest.mark.db

BELL = re.compile(r'<a class="bell" href="/notifications"[^>]*>(.+?)</a>')


@pytest.fixture
def world(settings: Settings, clock: FrozenClock, app: FastAPI) -> World:
    return seed_world(settings, clock, with_passwords=True)


def _notify(world: World, key: str, count: int, link: str = "/visits") -> list[uuid.UUID]:
    """``count`` notifications for ``key``, a minute apart, numbered in order."""
    made = []
    with scope_for(world.settings, world.clock) as scope:
        for number in range(1, count + 1):
            note = notify(
                scope, world[key].user_id, kind="visit_booked", title=f"Note {number}", link=link
            )
            made.append(note.id)
            world.clock.advance(timedelta(minutes=1))
    return made


def _get(client: TestClient, world: World, key: str, path: str) -> Any:
    return client.get(path, headers=world[key].headers, follow_redirects=False)


def _post(client: TestClient, world: World, key: str, path: str, **data: str) -> Any:
    return client.post(path, data=data, headers=world[key].headers, follow_redirects=False)


def _bell(html: str) -> str:
    """The bell's accessible name: its text, the visually hidden words included."""
    found = BELL.search(html)
    assert found is not None
    return re.sub(r"<[^>]+>", "", found.group(1))


def _titles(html: str) -> list[str]:
    return re.findall(r'<a class="title" href="/notifications/[^"]+/open">([^<]+)</a>', html)


def test_the_bell_counts_unread_and_the_inbox_pages_newest_first(
    client: TestClient, world: World
) -> None:
    assert _bell(_get(client, world, "patient_a", "/").text) == "Notifications, 0 unread"
    total = PER_PAGE + 5
    _notify(world, "patient_a", total)
    home = _get(client, world, "patient_a", "/").text
    assert _bell(home) == f"Notifications, {total} unread"
    assert f'<span class="bell-count">{total}</span>' in home

    first = _get(client, world, "patient_a", "/notifications")
    assert first.status_code == 200
    assert _titles(first.text) == [f"Note {n}" for n in range(total, total - PER_PAGE, -1)]
    assert 'href="/notifications?page=2" rel="next"' in first.text
    assert 'rel="prev"' not in first.text
    assert "<time datetime=" in first.text  # shown in the viewer's zone (web/times.py)
    second = _get(client, world, "patient_a", "/notifications?page=2").text
    assert _titles(second) == [f"Note {n}" for n in range(5, 0, -1)]
    assert 'href="/notifications" rel="prev"' in second
    assert 'rel="next"' not in second
    # Another person's bell and inbox show none of them.
    other = _get(client, world, "patient_b", "/notifications").text
    assert _titles(other) == []
    assert _bell(other) == "Notifications, 0 unread"


def test_marking_read_one_and_all(client: TestClient, world: World) -> None:
    first, second, third = _notify(world, "clinician_a", 3)
    answer = _post(client, world, "clinician_a", f"/notifications/{second}/read", page="1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/notifications"
    inbox = _get(client, world, "clinician_a", "/notifications").text
    assert _bell(inbox) == "Notifications, 2 unread"
    assert f'action="/notifications/{second}/read"' not in inbox
    assert f'action="/notifications/{first}/read"' in inbox
    assert _post(client, world, "clinician_a", "/notifications/read-all").status_code == 303
    inbox = _get(client, world, "clinician_a", "/notifications").text
    assert _bell(inbox) == "Notifications, 0 unread"
    assert "Mark all as read" not in inbox
    assert f'action="/notifications/{third}/read"' not in inbox
    assert "Note 3" in inbox  # read notifications stay listed


def test_opening_a_notification_marks_it_read_and_leads_to_its_page(
    app: FastAPI, client: TestClient, world: World
) -> None:
    [note] = _notify(world, "patient_a", 1, link="/monitoring/me")
    answer = _get(client, world, "patient_a", f"/notifications/{note}/open")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/monitoring/me"
    with app.state.services.sessions() as session:
        assert session.get(Notification, note).read_at is not None
    assert _bell(_get(client, world, "patient_a", "/").text) == "Notifications, 0 unread"


def _audit(app: FastAPI, request_id: str) -> list[tuple[str, str | None]]:
    query = select(AuditRow.action, AuditRow.object_type).where(AuditRow.request_id == request_id)
    with app.state.services.engine.connect() as conn:
        return [(row.action, row.object_type) for row in conn.execute(query)]


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", "open"), ("POST", "read")], ids=["open", "mark read"]
)
def test_someone_elses_notification_answers_as_a_missing_one_and_is_audited(
    app: FastAPI, client: TestClient, world: World, method: str, suffix: str
) -> None:
    [theirs] = _notify(world, "patient_a", 1)
    for key in ("patient_b", "clinician_a", "admin", "other_admin"):
        headers = world[key].headers
        probe = uuid.uuid4().hex
        got = client.request(
            method,
            f"/notifications/{theirs}/{suffix}",
            headers={**headers, "X-Request-Id": f"theirs-{probe}"},
            follow_redirects=False,
        )
        missing = client.request(
            method,
            f"/notifications/{uuid.uuid4()}/{suffix}",
            headers={**headers, "X-Request-Id": f"missing-{probe}"},
            follow_redirects=False,
        )
        assert got.status_code == missing.status_code == 404, key
        assert got.text.replace("theirs", "") == missing.text.replace("missing", "")
        assert _audit(app, f"theirs-{probe}") == [("access_denied", "notification")]
    with app.state.services.sessions() as session:
        assert session.get(Notification, theirs).read_at is None


def test_reading_ones_own_inbox_records_no_phi_read(
    app: FastAPI, client: TestClient, world: World
) -> None:
    """Notifications are no patient's record (generic titles, no patient named), as on the
    API: listing, opening and marking them leave no read rows; refusals are audited above."""
    [note] = _notify(world, "patient_a", 1)
    headers = {**world["patient_a"].headers, "X-Request-Id": "probe-own"}
    assert client.get("/notifications", headers=headers).status_code == 200
    client.get(f"/notifications/{note}/open", headers=headers, follow_redirects=False)
    assert [row for row in _audit(app, "probe-own") if row[1] == "notification"] == []


@contextmanager
def _statements(app: FastAPI) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    engine = app.state.services.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_the_bell_is_one_statement_per_page(app: FastAPI, client: TestClient, world: World) -> None:
    _notify(world, "clinician_a", 3)
    with _statements(app) as seen:
        assert _get(client, world, "clinician_a", "/visits").status_code == 200
    touching = [s for s in seen if "notifications" in s]
    assert len(touching) == 1, touching
    assert "count(" in touching[0].lower()


def test_sign_in_leads_back_to_the_page_asked_for(client: TestClient, world: World) -> None:
    [note] = _notify(world, "patient_a", 1, link="/monitoring/me")
    asked = client.get(f"/notifications/{note}/open", follow_redirects=False)
    assert asked.status_code == 303
    assert asked.headers["location"] == f"/login?next=%2Fnotifications%2F{note}%2Fopen"
    form = client.get(asked.headers["location"]).text
    assert f'name="next" value="/notifications/{note}/open"' in form
    then = _sign_in_then(client, world, f"/notifications/{note}/open")
    assert then == f"/notifications/{note}/open"
    opened = client.get(then, follow_redirects=False)
    assert opened.headers["location"] == "/monitoring/me"


@pytest.mark.parametrize(
    "elsewhere",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "x"],
)
def test_sign_in_never_leads_to_another_site(
    client: TestClient, world: World, elsewhere: str
) -> None:
    assert _sign_in_then(client, world, elsewhere) == "/"


def _sign_in_then(client: TestClient, world: World, then: str) -> str:
    """Where patient A's sign-in through the form leads, asked to go on to ``then``."""
    person = world["patient_a"]
    data = {"email": person.email, "password": PASSWORD, "next": then}
    signed_in = client.post("/login", data=data, follow_redirects=False)
    assert signed_in.status_code == 303
    return str(signed_in.headers["location"])


def test_a_cross_site_post_marks_nothing_read(
    app: FastAPI, client: TestClient, world: World
) -> None:
    [note] = _notify(world, "patient_a", 1)
    sign_in(client, world, "patient_a")
    refused = client.post(
        "/notifications/read-all",
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    with app.state.services.sessions() as session:
        assert session.get(Notification, note).read_at is None
    same_site = client.post(
        "/notifications/read-all", headers={"Origin": "http://testserver"}, follow_redirects=False
    )
    assert same_site.status_code == 303
    with app.state.services.sessions() as session:
        assert session.get(Notification, note).read_at is not None
