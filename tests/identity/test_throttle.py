"""Sign-in throttling: per source and per email address, back-off instead of a lock, the same
answers for accounts that exist and that do not (SQLite and PostgreSQL).

The app here sits behind a trusted proxy (10.0.0.1), so each attempt names its source in
X-Forwarded-For; the ``client`` fixture connects from elsewhere and is not believed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.identity import credentials
from tests.support import PASSWORD, World, seed_world

pytestmark = pytest.mark.db

PROXY = "10.0.0.1"
UNKNOWN = "nobody.at.all@example.test"
WRONG = "not the password at all"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"trusted_proxies": [PROXY]})


@pytest.fixture
def people(settings: Settings, clock: FrozenClock, app: FastAPI) -> World:
    return seed_world(settings, clock, with_passwords=True)


@pytest.fixture
def proxied(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, client=(PROXY, 50000)) as test_client:
        yield test_client


def attempt(client: TestClient, email: str, source: str, password: str = WRONG) -> httpx.Response:
    return client.post(
        "/v1/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": source},
    )


def shape(response: httpx.Response) -> tuple[Any, ...]:
    """Everything a caller can compare, except what differs on every request."""
    body = response.json()
    body.pop("request_id", None)
    headers = {
        name: value
        for name, value in response.headers.items()
        if name not in {"x-request-id", "date", "content-length"}
    }
    return response.status_code, sorted(body.items()), sorted(headers.items())


def retry_after(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "rate_limited"
    return int(response.headers["retry-after"])


class CountingHasher:
    """The real password hasher, counting the verifications it does."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls = 0

    def verify(self, stored: str, password: str) -> bool:
        self.calls += 1
        return bool(self.real.verify(stored, password))


def test_known_and_unknown_emails_answer_alike_and_do_the_same_work(
    proxied: TestClient, people: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = CountingHasher(credentials._hasher)
    monkeypatch.setattr(credentials, "_hasher", hasher)
    known: list[tuple[Any, ...]] = []
    unknown: list[tuple[Any, ...]] = []
    verified: list[int] = []
    # Each attempt from its own source, so only the email's own counter is in play.
    for i in range(settings.login_account_free_failures + 3):
        before = hasher.calls
        known.append(shape(attempt(proxied, people["patient_b"].email, f"198.51.100.{i}")))
        middle = hasher.calls
        unknown.append(shape(attempt(proxied, UNKNOWN, f"203.0.113.{i}")))
        verified.append((middle - before) - (hasher.calls - middle))
    assert known == unknown
    assert verified == [0] * len(verified)
    assert {s[0] for s in known} == {401, 429}


def test_failures_from_one_source_back_that_source_off_not_the_person_elsewhere(
    proxied: TestClient, people: World, settings: Settings, clock: FrozenClock
) -> None:
    attacker = "192.0.2.7"
    for i in range(settings.login_source_free_failures):
        assert attempt(proxied, f"guess{i}@example.test", attacker).status_code == 401
    email = people["patient_a"].email
    # Even the right password is not looked at from a source that is backing off.
    wait = retry_after(attempt(proxied, email, attacker, PASSWORD))
    assert 1 <= wait <= settings.login_source_max_delay_seconds
    assert attempt(proxied, email, "192.0.2.8", PASSWORD).status_code == 200
    clock.advance(timedelta(seconds=wait))
    assert attempt(proxied, email, attacker, PASSWORD).status_code == 200


def test_failures_spread_over_sources_delay_the_account_boundedly_on_every_instance(
    proxied: TestClient, people: World, settings: Settings, clock: FrozenClock
) -> None:
    # A second server on the same database sees the counts the first one keeps.
    other_app = create_app(settings, clock=clock)
    email = people["patient_b"].email
    waits: list[int] = []
    with TestClient(other_app, client=(PROXY, 50000)) as other:
        for i in range(40):
            response = attempt((proxied, other)[i % 2], email, f"198.51.100.{i}")
            if response.status_code == 429:
                waits.append(retry_after(response))
                clock.advance(timedelta(seconds=waits[-1]))
            else:
                assert response.status_code == 401
        # The real user, from a source of their own, waits at most the account's cap.
        real = attempt(other, email, "192.0.2.99", PASSWORD)
        if real.status_code == 429:
            wait = retry_after(real)
            assert wait <= settings.login_account_max_delay_seconds
            clock.advance(timedelta(seconds=wait))
            real = attempt(other, email, "192.0.2.99", PASSWORD)
    other_app.state.services.engine.dispose()
    assert real.status_code == 200
    assert waits, "the account was never slowed down"
    assert max(waits) == settings.login_account_max_delay_seconds
    assert waits == sorted(waits)


def test_the_delay_bounds_guessing_at_one_account(
    proxied: TestClient, people: World, settings: Settings, clock: FrozenClock
) -> None:
    email = people["patient_b"].email
    guesses = 0
    elapsed = timedelta()
    for i in range(120):
        if attempt(proxied, email, f"198.51.100.{i}").status_code == 401:
            guesses += 1
        clock.advance(timedelta(seconds=5))
        elapsed += timedelta(seconds=5)
    cap = settings.login_account_max_delay_seconds
    ramp = math.ceil(math.log2(cap / settings.login_delay_base_seconds)) + 1
    # The free failures, the ramp of doubling waits, then one guess per capped wait.
    bound = settings.login_account_free_failures + ramp + elapsed.total_seconds() / cap + 1
    assert guesses <= bound
    assert guesses < 120


def test_a_wrong_current_password_counts_against_the_same_throttle(
    proxied: TestClient, people: World, settings: Settings
) -> None:
    patient = people["patient_a"]
    source = {"X-Forwarded-For": "192.0.2.20"}
    assert attempt(proxied, patient.email, "192.0.2.20", PASSWORD).status_code == 200
    change = {"current_password": WRONG, "new_password": "a brand new passphrase"}
    for _ in range(settings.login_account_free_failures):
        assert proxied.post("/v1/me/password", json=change, headers=source).status_code == 401
    retry_after(proxied.post("/v1/me/password", json=change, headers=source))
    # The same counter holds a sign-in with that email, from anywhere.
    retry_after(attempt(proxied, patient.email, "192.0.2.21", PASSWORD))


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    client: TestClient, people: World, settings: Settings
) -> None:
    # ``client`` connects as "testclient", not the trusted proxy: every attempt is one source.
    for i in range(settings.login_source_free_failures):
        assert attempt(client, f"guess{i}@example.test", f"198.51.100.{i}").status_code == 401
    retry_after(attempt(client, people["patient_a"].email, "198.51.100.200", PASSWORD))


def test_sign_in_page_answers_alike_and_says_plainly_how_long_to_wait(
    proxied: TestClient, people: World, settings: Settings
) -> None:
    def submit(email: str, source: str) -> httpx.Response:
        return proxied.post(
            "/login",
            data={"email": email, "password": WRONG},
            headers={"X-Forwarded-For": source},
            follow_redirects=False,
        )

    for i in range(settings.login_account_free_failures + 2):
        known = submit(people["patient_b"].email, f"198.51.100.{i}")
        unknown = submit(UNKNOWN, f"203.0.113.{i}")
        assert known.status_code == unknown.status_code
        assert known.headers.get("retry-after") == unknown.headers.get("retry-after")
        assert "set-cookie" not in known.headers
    assert known.status_code == 429
    wait = known.headers["retry-after"]
    assert f"Please wait {wait} seconds" in known.text
    assert people["patient_b"].email in known.text  # the form keeps what was typed


def test_counts_are_forgotten_after_the_window(
    proxied: TestClient, people: World, settings: Settings, clock: FrozenClock
) -> None:
    from sqlalchemy import func, select

    from telehealth.identity.tables import LoginThrottle
    from telehealth.jobs import registered, run_job
    from tests.support import scope_for

    def stored() -> int:
        with scope_for(settings, clock) as scope:
            return int(scope.session.execute(select(func.count(LoginThrottle.key))).scalar_one())

    job = next(j for j in registered() if j.name == "identity.forget-sign-in-failures")
    services = proxied.app.state.services  # type: ignore[attr-defined]
    sessions, ports = services.sessions, services.ports
    assert attempt(proxied, UNKNOWN, "192.0.2.30").status_code == 401
    assert stored() == 2  # the source and the email address
    assert run_job(job, sessions, ports) == 0
    clock.advance(timedelta(seconds=settings.login_failure_window_seconds + 1))
    assert run_job(job, sessions, ports) == 2
    assert stored() == 0
