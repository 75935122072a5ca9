"""A FHIR Observation search vs the native readings list returning the same 50 readings.

Target: ``GET /fhir/R4/Observation?patient=X&_count=50`` (SMART scope check, the patient's
readable enrollments, one reading query for the page, 50 US Core Observations in a searchset
Bundle, an audit row per Observation) reaches at least 0.5x the requests/s of the native
``GET /v1/monitoring/enrollments/{id}/readings?limit=50`` (the enrollment's access check, the
same reading list query, one audit row) for the same 50 heart-rate readings, same server
(uvicorn, one worker), same run, PostgreSQL; wrk is the load generator in its own process. The
two loads alternate for ``--rounds`` rounds and the median of the rounds' ratios is reported.

    .venv/bin/python bench/fhir_observations.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from harness import alternate, report_rounds, seed_patient, throwaway_postgres, uvicorn_server, wrk
from telehealth.bootstrap import bootstrap
from telehealth.config import Settings
from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.db.migrate import upgrade
from telehealth.identity import service as identity
from telehealth.identity.model import CareSource, Role
from telehealth.monitoring import ingest, model
from telehealth.monitoring import service as monitoring
from telehealth.scope import open_scope

READINGS = 50
TARGET = 0.5


def seed(settings: Settings) -> tuple[str, str, str]:
    """A patient in a heart-failure program whose device sent 50 heart rates; returns the
    caring clinician's token, the patient id and the enrollment id."""
    seeded = seed_patient(settings)
    engine = make_engine(settings.effective_database_url)
    scope = open_scope(make_sessionmaker(engine), bootstrap(settings), request_id="bench")
    clinician = identity.create_user(
        scope,
        org_id=seeded.org_id,
        email="rpm@bench.test",
        role=Role.CLINICIAN,
        display_name="RPM",
        password=None,
    ).user
    identity.assign_care(
        scope, clinician.id, seeded.patient_id, source=CareSource.COORDINATOR, granted_by=None
    )
    scope.session.flush()
    scope.act_as(identity.system_actor_for(scope, clinician))
    now = scope.clock.now()
    data = monitoring.EnrollmentInput(
        model.Program.HEART_FAILURE,
        "medicare",
        (now - timedelta(days=30)).date(),
        None,
        "patient",
        "written",
        now - timedelta(days=1),
    )
    enrollment = monitoring.enroll(scope, seeded.patient_id, data)
    spec = monitoring.DeviceInput("other", "Acme", "Hub", "SN", True)
    device = monitoring.add_device(scope, enrollment.id, spec)[0]
    raws = [
        model.RawReading(i, "8867-4", 60.0 + i % 30, "/min", now - timedelta(minutes=10 * i))
        for i in range(READINGS)
    ]
    result = ingest.ingest(scope, device, enrollment, raws)
    assert result.stored == READINGS, result
    token = identity.issue_token(scope, clinician, label="bench", minutes=None, mfa_verified=True)
    scope.uow.commit()
    engine.dispose()
    return token.secret, str(seeded.patient_id), str(enrollment.id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, throwaway_postgres("th_bench_fhir") as url:
        workdir = Path(tmp)
        upgrade(url)
        settings = Settings(data_dir=workdir, database_url=url, api_token_minutes=1440)
        token, patient_id, enrollment_id = seed(settings)
        env = {
            "TELEHEALTH_DATA_DIR": str(workdir),
            "TELEHEALTH_DATABASE_URL": url,
            "TELEHEALTH_API_TOKEN_MINUTES": "1440",
            "TELEHEALTH_ENV": "test",
        }
        headers = {"Authorization": f"Bearer {token}"}
        with uvicorn_server("telehealth.app:create_app_from_env", factory=True, env=env) as server:
            native = f"{server}/v1/monitoring/enrollments/{enrollment_id}/readings?limit=50"
            fhir = f"{server}/fhir/R4/Observation?patient=Patient/{patient_id}&_count=50"
            _same_readings(native, fhir, headers)
            pairs = alternate(
                lambda: wrk(native, seconds=args.seconds, headers=headers),
                lambda: wrk(fhir, seconds=args.seconds, headers=headers),
                args.rounds,
            )
    ratio = report_rounds(pairs, "native readings list", "FHIR Observation search")
    print(f"median ratio: {ratio:.3f} (target >= {TARGET})")


def _same_readings(native: str, fhir: str, headers: dict[str, str]) -> None:
    rows = httpx.get(native, headers=headers).json()
    bundle = httpx.get(fhir, headers=headers).json()
    observations = [e["resource"] for e in bundle["entry"]]
    assert len(rows) == len(observations) == READINGS, (len(rows), len(observations))
    assert {r["id"] for r in rows} == {o["id"] for o in observations}
    assert all(o["valueQuantity"]["code"] == "/min" for o in observations)
    print(f"both answer the same {READINGS} readings ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")


if __name__ == "__main__":
    main()
