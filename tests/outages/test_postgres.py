"""PostgreSQL stopped and started again under load, with the application left running.

The test runs its own throwaway cluster (never the machine's shared one): requests answer 503
with a problem body while it is down (never 500, never a hang), each request's transaction is
all or nothing, and the first requests after the restart succeed without restarting the app.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from telehealth.app import create_app
from telehealth.clock import FrozenClock, SystemClock
from telehealth.config import Environment, Settings
from telehealth.db.migrate import upgrade
from tests.outages.services import ThrowawayPostgres
from tests.review.support import case_body
from tests.serving import serving
from tests.support import World, seed_world

pytestmark = [pytest.mark.db, pytest.mark.slow]

CLIENTS = 6
# A request that neither answers nor fails within this long counts as hung.
HUNG = 30


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    try:
        server.start()
        upgrade(server.url)
        yield server
    finally:
        server.destroy()


@pytest.fixture
def pg_settings(postgres: ThrowawayPostgres, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.TEST,
        data_dir=tmp_path / "data",
        database_url=postgres.url,
        public_url="http://testserver",
        api_token_minutes=24 * 60,
    )


class Load:
    """Clients creating and reading cases until stopped; every answer is kept."""

    def __init__(self, url: str, world: World) -> None:
        self._url = url
        self._headers = world["patient_a"].headers
        self._stop = threading.Event()
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.failures: list[BaseException] = []
        self._guard = threading.Lock()
        self._threads = [threading.Thread(target=self._client) for _ in range(CLIENTS)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=HUNG * 2)

    def count(self) -> int:
        with self._guard:
            return len(self.answers)

    def _client(self) -> None:
        with requests.Session() as http:
            while not self._stop.is_set():
                try:
                    created = self._call(http, "POST", "/v1/cases", json=case_body())
                    if created[0] == 201:
                        self._call(http, "GET", f"/v1/cases/{created[1]['id']}")
                except Exception as exc:  # a hang (timeout), a cut connection, a bad answer
                    with self._guard:
                        self.failures.append(exc)
                    return

    def _call(self, http: requests.Session, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        response = http.request(method, self._url + path, headers=self._headers, timeout=HUNG, **kw)
        answer = (response.status_code, response.json())
        if response.status_code >= 500:
            assert response.headers["content-type"] == "application/problem+json"
        with self._guard:
            self.answers.append(answer)
        return answer


# What a 503 says: a request that needed the database gets the first; a read whose audit rows
# were being group-committed when the server went away gets the audit committer's. Neither
# names the server, its address or anything of the request.
UNAVAILABLE = {
    "the service is temporarily unavailable",
    "the audit log is unavailable; try again",
}


def _wait_for_answers(load: Load, more: int) -> None:
    target = load.count() + more
    while load.count() < target and not load.failures:
        time.sleep(0.05)  # not Event.wait: under faketime a timed wait may never time out


def test_requests_fail_fast_while_postgres_is_down_and_recover_when_it_is_back(
    postgres: ThrowawayPostgres, pg_settings: Settings
) -> None:
    # A live server reads the real clock: seed with it so the tokens are current.
    world = seed_world(pg_settings, FrozenClock(datetime.now(UTC)))
    app = create_app(pg_settings, clock=SystemClock())
    with serving(app) as url:
        with Load(url, world) as load:
            _wait_for_answers(load, 20)
            postgres.stop("immediate")
            _wait_for_answers(load, 20)  # answered while the database is down
            postgres.start()
            _wait_for_answers(load, 20)
        assert load.failures == []  # every request was answered: none hung or was cut off
        statuses = {status for status, _body in load.answers}
        assert statuses <= {200, 201, 503}
        assert 503 in statuses
        for status, body in load.answers:
            if status == 503:
                assert body["code"] == "unavailable"
                assert body["detail"] in UNAVAILABLE, body

        # Recovered without a restart: the connections the outage broke are not handed out
        # again, so the first requests after it succeed (more than the pool holds).
        with requests.Session() as http:
            for _ in range(25):
                response = http.post(
                    f"{url}/v1/cases",
                    json=case_body(),
                    headers=world["patient_a"].headers,
                    timeout=HUNG,
                )
                assert response.status_code == 201, response.text
    created = {uuid.UUID(body["id"]) for status, body in load.answers if status == 201}
    _assert_all_or_nothing(pg_settings.effective_database_url, created)


def _assert_all_or_nothing(url: str, acknowledged: set[uuid.UUID]) -> None:
    """Every acknowledged case exists, and every case that exists has its audit record: no
    request left a case without the record written in the same transaction, or the reverse."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            cases = {row[0] for row in connection.execute(text("SELECT id FROM review_cases"))}
            audited = {
                uuid.UUID(row[0])
                for row in connection.execute(
                    text(
                        "SELECT object_id FROM audit_events "
                        "WHERE object_type = 'review_case' AND action = 'create'"
                    )
                )
            }
    finally:
        engine.dispose()
    assert acknowledged <= cases
    assert cases == audited


def test_the_first_requests_after_a_restart_while_idle_succeed(
    postgres: ThrowawayPostgres, pg_settings: Settings
) -> None:
    """A restart nobody saw (at night, say) leaves the pool's connections dead; none of them
    may be handed to a request."""
    world = seed_world(pg_settings, FrozenClock(datetime.now(UTC)))
    app = create_app(pg_settings, clock=SystemClock())
    headers = world["patient_a"].headers
    with serving(app) as url, requests.Session() as http:
        for _ in range(CLIENTS):  # a few pooled connections, idle afterwards
            created = http.post(f"{url}/v1/cases", json=case_body(), headers=headers, timeout=HUNG)
            assert created.status_code == 201
            case_id = created.json()["id"]
        postgres.stop("fast")
        postgres.start()
        for _ in range(CLIENTS):
            created = http.post(f"{url}/v1/cases", json=case_body(), headers=headers, timeout=HUNG)
            assert created.status_code == 201, created.text
            read = http.get(f"{url}/v1/cases/{case_id}", headers=headers, timeout=HUNG)
            assert read.status_code == 200, read.text
