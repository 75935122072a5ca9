"""The session cookie and the defence against cross-site writes (ADR 0009)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.web.auth import SESSION_COOKIE
from tests.support import World, login, seed_world

pytestmark = pytest.mark.db


@pytest.fixture
def signed_in(client: TestClient, settings: Settings, clock: FrozenClock) -> World:
    people = seed_world(settings, clock, with_passwords=True)
    assert login(client, people["patient_a"].email).status_code == 200
    return people


def test_a_page_asked_for_without_the_cookie_leaves_the_browsers_cookie_alone(
    client: TestClient,
) -> None:
    # A browser may withhold the cookie (another site's link, a privacy mode); the answer
    # must not wipe the session it keeps.
    response = client.get("/visits", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fvisits"
    assert "set-cookie" not in response.headers


def test_a_stale_cookie_the_request_carried_is_cleared(client: TestClient) -> None:
    client.cookies.set(SESSION_COOKIE, "ths_no-such-session")
    response = client.get("/visits", follow_redirects=False)
    assert response.status_code == 303
    assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]


def test_the_session_cookie_goes_along_with_links_from_other_sites(
    client: TestClient, settings: Settings, clock: FrozenClock
) -> None:
    people = seed_world(settings, clock, with_passwords=True)
    cookie = login(client, people["patient_a"].email).headers["set-cookie"].lower()
    assert "samesite=lax" in cookie
    assert "httponly" in cookie


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://testserver"},
        {"Referer": "https://evil.example/page"},
        {"Origin": "null"},
    ],
)
def test_cookie_writes_from_anywhere_but_our_pages_are_refused(
    client: TestClient, signed_in: World, headers: dict[str, str]
) -> None:
    before = client.get("/v1/tokens").json()
    refused = client.post("/v1/tokens", json={}, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    assert client.get("/v1/tokens").json() == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        {"Referer": "http://testserver/visits"},
        {"Sec-Fetch-Site": "none"},
    ],
)
def test_cookie_writes_from_our_own_pages_go_through(
    client: TestClient, signed_in: World, headers: dict[str, str]
) -> None:
    assert client.post("/v1/tokens", json={}, headers=headers).status_code == 201


def test_a_cross_site_page_post_signs_no_one_out(client: TestClient, signed_in: World) -> None:
    forged = client.post(
        "/logout", headers={"Origin": "https://evil.example"}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert "set-cookie" not in forged.headers
    assert client.get("/v1/me").status_code == 200
