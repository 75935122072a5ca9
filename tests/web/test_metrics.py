"""/metrics: Prometheus's text format, for the holder of the metrics token only, labelled by
route templates and codes, never by ids or anything a patient typed."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.jobs import Job, JobRunner
from telehealth.scope import Scope
from tests.support import World, real_ports, seed_world

pytestmark = pytest.mark.db

TOKEN = "metrics-token-for-the-tests-0123456789"
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def metered(settings: Settings, clock: FrozenClock) -> Iterator[FastAPI]:
    configured = settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    application = create_app(configured, ports=real_ports(configured, clock))
    yield application
    application.state.services.engine.dispose()


@pytest.fixture
def scraped(metered: FastAPI) -> Iterator[TestClient]:
    with TestClient(metered) as client:
        yield client


@pytest.fixture
def people(metered: FastAPI, settings: Settings, clock: FrozenClock) -> World:
    return seed_world(settings, clock, ports=metered.state.services.ports)


def samples(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The scrape, by sample name: each sample's labels and value."""
    answer = client.get("/metrics", headers=SCRAPER)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def value(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(
        v for got, v in found.get(name, []) if all(got.get(k) == w for k, w in labels.items())
    )


def test_metrics_need_the_metrics_token(scraped: TestClient, people: World) -> None:
    assert scraped.get("/metrics").status_code == 401
    assert scraped.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    # A person's credential, even an administrator's, is not the scraper's.
    assert scraped.get("/metrics", headers=people["admin"].headers).status_code == 401
    assert scraped.get("/metrics", headers=SCRAPER).status_code == 200


def test_without_a_configured_token_no_one_reads_the_metrics(client: TestClient) -> None:
    answer = client.get("/metrics", headers=SCRAPER)
    assert answer.status_code == 401
    assert answer.json()["code"] == "not_authenticated"


def test_requests_are_counted_by_route_template_and_errors_by_code(
    scraped: TestClient, people: World
) -> None:
    patient = people["patient_a"].patient_id
    reader = people["clinician_a"].headers
    for _ in range(3):
        assert scraped.get(f"/v1/patients/{patient}", headers=reader).status_code == 200
    assert scraped.get(f"/v1/patients/{uuid.uuid4()}", headers=reader).status_code == 404
    assert scraped.get(f"/no/such/page/{uuid.uuid4()}").status_code == 404
    found = samples(scraped)
    route = "/v1/patients/{patient_id}"
    ok = {"method": "GET", "route": route, "status": "200"}
    assert value(found, "telehealth_http_requests_total", **ok) == 3
    assert value(found, "telehealth_http_requests_total", route=route, status="404") == 1
    assert value(found, "telehealth_http_requests_total", route="unmatched", status="404") == 1
    assert value(found, "telehealth_http_request_duration_seconds_count", route=route) == 4
    assert value(found, "telehealth_errors_total", code="not_found", status="404") == 2


def test_no_label_holds_an_id_or_a_persons_details(scraped: TestClient, people: World) -> None:
    reader = people["clinician_a"].headers
    for person in ("patient_a", "patient_b"):
        scraped.get(f"/v1/patients/{people[person].patient_id}", headers=reader)
    scraped.get("/v1/patients", params={"q": "Ada"}, headers=reader)
    text = scraped.get("/metrics", headers=SCRAPER).text
    assert not UUID.search(text)
    for person in people.people.values():
        assert person.email not in text
        assert person.token not in text
    assert "Ada" not in text
    labels = {k for s in samples(scraped).values() for got, _ in s for k in got}
    assert labels <= {"method", "route", "status", "code", "job", "outcome", "state", "le"}


def test_a_job_run_is_counted(metered: FastAPI, scraped: TestClient) -> None:
    services = metered.state.services

    def one(scope: Scope) -> int:
        return 1

    runner = JobRunner(
        services.sessions, services.ports, jobs=[Job("test.counted", timedelta(minutes=1), one)]
    )
    runner.run_due()
    found = samples(scraped)
    assert value(found, "telehealth_job_runs_total", job="test.counted", outcome="ok") == 1
    assert value(found, "telehealth_job_duration_seconds_count", job="test.counted") == 1


def test_the_gauges_and_the_audit_commits_are_exposed(scraped: TestClient, people: World) -> None:
    patient = people["patient_a"].patient_id
    # A fast-lane read: its audit row goes through the group committer on both databases.
    assert (
        scraped.get(f"/v1/patients/{patient}", headers=people["patient_a"].headers).status_code
        == 200
    )
    found = samples(scraped)
    assert value(found, "telehealth_visits_in_progress") == 0
    assert "telehealth_signaling_sockets" in found
    assert value(found, "telehealth_db_pool_connections", state="in_use") >= 0
    assert {labels["state"] for labels, _ in found["telehealth_db_pool_connections"]} == {
        "in_use",
        "idle",
        "overflow",
    }
    assert value(found, "telehealth_audit_commit_batch_rows_count") >= 1
    assert value(found, "telehealth_audit_commit_duration_seconds_count") >= 1
    assert "telehealth_upload_bytes_total" in found
