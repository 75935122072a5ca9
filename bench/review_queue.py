"""Latency of a reviewer's queue listing as store-and-forward history grows 64-fold.

PostgreSQL: the same database is measured with ``--small`` cases, then again after growing it
to 64 times as many (bulk-loaded with COPY). Each measurement is the median over ``--samples``
requests of ``GET /v1/cases?queue=dermatology`` (first page, in-process through the app, with
authentication). Most cases are historical (signed); the share waiting in queues stays the
same, as in a service that keeps its turnaround. Target: big / small median <= 1.5.

    .venv/bin/python bench/review_queue.py [--small 15000] [--factor 64] [--samples 300]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from harness import seed_patient, throwaway_postgres
from telehealth.app import create_app
from telehealth.bootstrap import bootstrap
from telehealth.clock import FrozenClock
from telehealth.config import Environment, Settings
from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.db.migrate import upgrade
from telehealth.identity import service as identity
from telehealth.identity.model import LicenseKind, Role
from telehealth.logging import configure_logging
from telehealth.scope import open_scope

SPECIALTIES = ("dermatology", "radiology", "pathology", "ophthalmology", "cardiology")
STATES = ("TX", "CA", "NY")
QUEUED_SHARE = 0.1
COLUMNS = (
    "id, org_id, patient_id, kind, originator_id, specialty, reason, urgency, acuity, purpose, "
    "location_state, payer, setting, questionnaire_id, questionnaire_version, answers, status, "
    "established, submitted_at, due_at, signed_at, created_at, updated_at, version"
)


def seed(settings: Settings) -> tuple[str, uuid.UUID, uuid.UUID, uuid.UUID]:
    """A seeded patient and a dermatologist licensed in TX; returns the clinician's token."""
    seeded = seed_patient(settings)
    engine = make_engine(settings.effective_database_url)
    scope = open_scope(
        make_sessionmaker(engine), bootstrap(settings, clock=FrozenClock(datetime.now(UTC)))
    )
    clinician = identity.create_user(
        scope,
        org_id=seeded.org_id,
        email="c@example.test",
        role=Role.CLINICIAN,
        display_name="c",
        password=None,
    ).user
    identity.set_clinician_profile(scope, clinician.id, specialties=["dermatology"])
    identity.add_license(
        scope, clinician.id, state="TX", kind=LicenseKind.FULL, number="TX-1", expires_on=None
    )
    token = identity.issue_token(scope, clinician, label="bench", minutes=None, mfa_verified=True)
    scope.uow.commit()
    engine.dispose()
    return token.secret, seeded.org_id, seeded.patient_id, seeded.user_id


def rows(
    count: int, org: uuid.UUID, patient: uuid.UUID, originator: uuid.UUID, rng: random.Random
) -> Iterator[tuple[object, ...]]:
    now = datetime.now(UTC)
    answers = json.dumps({"chief_complaint": "bench", "onset": "today"})
    for _ in range(count):
        created = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 365 * 3))
        queued = rng.random() < QUEUED_SHARE
        due = created + timedelta(hours=48)
        yield (
            uuid.uuid4(),
            org,
            patient,
            "self_referral",
            originator,
            rng.choice(SPECIALTIES),
            "bench",
            "routine",
            "routine",
            "new_problem",
            rng.choice(STATES),
            "commercial",
            "home",
            "general_intake",
            1,
            answers,
            "queued" if queued else "reported",
            True,
            created,
            due,
            None if queued else created + timedelta(hours=20),
            created,
            created,
            1,
        )


def load(url: str, count: int, ids: tuple[uuid.UUID, uuid.UUID, uuid.UUID], seed_: int) -> float:
    """COPY ``count`` cases in; returns seconds taken."""
    import psycopg

    rng = random.Random(seed_)
    started = time.perf_counter()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY review_cases ({COLUMNS}) FROM STDIN") as copy:
            for row in rows(count, *ids, rng):
                copy.write_row(row)
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE review_cases")
    return time.perf_counter() - started


def median_latency(client: TestClient, token: str, samples: int) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    params = {"queue": "dermatology", "limit": "50"}
    for _ in range(20):  # warm-up: plans, caches, pools
        client.get("/v1/cases", params=params, headers=headers)
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get("/v1/cases", params=params, headers=headers)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == 50
    return statistics.median(timings) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", type=int, default=15_000)
    parser.add_argument("--factor", type=int, default=64)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument(
        "--server",
        default=os.environ.get(
            "TELEHEALTH_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    configure_logging("WARNING")  # request log lines would drown the figures

    with (
        throwaway_postgres("th_bench_queue", args.server) as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        upgrade(url)
        settings = Settings(
            env=Environment.TEST,
            data_dir=Path(tmp),
            database_url=url,
            api_token_minutes=24 * 60,
        )
        token, org, patient, originator = seed(settings)
        ids = (org, patient, originator)
        app = create_app(settings)
        with TestClient(app) as client:
            small_load = load(url, args.small, ids, 1)
            small = median_latency(client, token, args.samples)
            big_count = args.small * args.factor
            big_load = load(url, big_count - args.small, ids, 2)
            big = median_latency(client, token, args.samples)
        app.state.services.engine.dispose()

    print(f"queue page: 50 cases, dermatology, clinician licensed in TX; {args.samples} samples")
    print(f"small: {args.small:>9,} cases (loaded in {small_load:5.1f} s) median {small:7.2f} ms")
    print(f"big  : {big_count:>9,} cases (loaded in {big_load:5.1f} s) median {big:7.2f} ms")
    print(f"ratio big / small (target <= 1.5): {big / small:.2f}")


if __name__ == "__main__":
    main()
