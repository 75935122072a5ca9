"""Device-reading ingestion vs a raw batched insert of the same rows, same PostgreSQL table.

Target: the ingestion pipeline — parse the JSON batch, authenticate the device token, validate
and normalise each reading, insert idempotently, evaluate thresholds (including weight gain
against history), raise alerts with notifications, write the audit row, commit — sustains at
least 0.25x the rows/s of a raw batched INSERT of the same rows into the same table, one
transaction per batch for both, measured in the same run on a throwaway database.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from harness import throwaway_postgres
from telehealth.bootstrap import bootstrap_for_tests
from telehealth.clock import FrozenClock
from telehealth.config import Environment, Settings
from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.db.migrate import upgrade
from telehealth.identity import service as identity
from telehealth.identity.model import Role
from telehealth.monitoring import ingest, model
from telehealth.monitoring import service as monitoring
from telehealth.monitoring.schemas import ReadingBatchIn
from telehealth.monitoring.tables import Reading
from telehealth.ports import Ports
from telehealth.scope import Scope, open_scope

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TARGET = 0.25


def _readings(count: int) -> list[dict[str, Any]]:
    """A week-by-week mix of blood pressure, heart rate, SpO2 and weight, some out of range."""
    out: list[dict[str, Any]] = []
    start = NOW - timedelta(minutes=5 * count)
    for i in range(count):
        at = (start + timedelta(minutes=5 * i)).isoformat()
        kind = i % 5
        if kind == 0:
            out.append(
                {"code": "8480-6", "value": 125 + (i % 70), "unit": "mm[Hg]", "effective": at}
            )
        elif kind == 1:
            out.append({"code": "8462-4", "value": 80, "unit": "mm[Hg]", "effective": at})
        elif kind == 2:
            out.append({"code": "8867-4", "value": 60 + (i % 30), "unit": "/min", "effective": at})
        elif kind == 3:
            out.append({"code": "59408-5", "value": 93 + (i % 6), "unit": "%", "effective": at})
        else:
            out.append(
                {
                    "code": "29463-7",
                    "value": 180 + (i % 7) * 0.4,
                    "unit": "[lb_av]",
                    "effective": at,
                }
            )
    return out


def _batches(readings: list[dict[str, Any]], size: int) -> list[bytes]:
    return [
        json.dumps({"readings": readings[i : i + size]}).encode()
        for i in range(0, len(readings), size)
    ]


def _scope(sessions: Any, ports: Ports) -> Scope:
    return open_scope(sessions, ports, request_id="bench")


def _setup(sessions: Any, ports: Ports, devices: int) -> list[str]:
    scope = _scope(sessions, ports)
    org = identity.create_organization(scope, "Bench Clinic")
    clinician = identity.create_user(
        scope,
        org_id=org.id,
        email="rpm@bench.test",
        role=Role.CLINICIAN,
        display_name="RPM",
        password=None,
    )
    patient = identity.create_patient(
        scope,
        org_id=org.id,
        given_name="Bench",
        family_name="Patient",
        birth_date=date(1950, 1, 1),
        home_state="TX",
        user_id=None,
    )
    identity.assign_care(scope, clinician.user.id, patient.id)
    scope.uow.session.flush()
    scope.act_as(identity.system_actor_for(scope, clinician.user))
    data = monitoring.EnrollmentInput(
        model.Program.HEART_FAILURE,
        "medicare",
        (NOW - timedelta(days=365)).date(),
        None,
        "patient",
        "written",
        NOW - timedelta(days=1),
    )
    enrollment = monitoring.enroll(scope, patient.id, data)
    spec = monitoring.DeviceInput("other", "Acme", "Hub", "SN", True)
    tokens = [monitoring.add_device(scope, enrollment.id, spec)[1] for _ in range(devices)]
    scope.uow.commit()
    return tokens


def run_pipeline(
    sessions: Any, ports: Ports, token: str, batches: list[bytes]
) -> tuple[float, int, int]:
    stored = alerts = 0
    began = time.perf_counter()
    for payload in batches:
        scope = _scope(sessions, ports)
        try:
            body = ReadingBatchIn.model_validate_json(payload)
            device, enrollment = monitoring.authenticate_device(scope, token)
            raws = [
                model.RawReading(i, r.code, r.value, r.unit, r.effective)
                for i, r in enumerate(body.readings)
            ]
            result = ingest.ingest(scope, device, enrollment, raws)
            assert result.ok, result.rejected[:3]
            scope.uow.commit()
        finally:
            scope.uow.close()
        stored += result.stored
        alerts += len(result.alerts)
    return time.perf_counter() - began, stored, alerts


def run_raw(
    engine: Any,
    token_device: uuid.UUID,
    enrollment: uuid.UUID,
    patient: uuid.UUID,
    readings: list[dict[str, Any]],
    size: int,
) -> float:
    rows = []
    for r in readings:
        metric = model.LOINC[r["code"]]
        at = datetime.fromisoformat(r["effective"])
        rows.append(
            {
                "id": uuid.uuid4(),
                "device_id": token_device,
                "enrollment_id": enrollment,
                "patient_id": patient,
                "code": r["code"],
                "metric": metric.value,
                "value": float(r["value"]),
                "unit": model.CANONICAL_UNIT[metric],
                "effective_at": at,
                "effective_date": at.date(),
                "received_at": NOW,
                "clock_skew": False,
            }
        )
    statement = insert(Reading)
    began = time.perf_counter()
    for i in range(0, len(rows), size):
        with engine.begin() as conn:
            conn.execute(statement, rows[i : i + size])
    return time.perf_counter() - began


def _device_ids(engine: Any) -> tuple[list[tuple[uuid.UUID, ...]], uuid.UUID, uuid.UUID]:
    with engine.connect() as conn:
        devices = conn.execute(
            text("SELECT id, enrollment_id, patient_id FROM monitoring_devices ORDER BY created_at")
        ).all()
    return [tuple(d) for d in devices], devices[0][1], devices[0][2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with throwaway_postgres() as url:
        return _measure(url, args.rows, args.batch, args.rounds)


def _measure(url: str, count: int, size: int, rounds: int) -> int:
    upgrade(url)
    settings = Settings(env=Environment.TEST, database_url=url)
    clock = FrozenClock(NOW)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    # Each round uses fresh devices so neither side meets rows the other already stored.
    # Built once, as a process does: not per scope.
    ports = bootstrap_for_tests(settings, clock)
    tokens = _setup(sessions, ports, devices=2 * rounds)
    devices, enrollment, patient = _device_ids(engine)
    readings = _readings(count)
    batches = _batches(readings, size)
    raw_rates, pipeline_rates = [], []
    for r in range(rounds):
        raw_seconds = run_raw(engine, devices[2 * r][0], enrollment, patient, readings, size)
        seconds, stored, alerts = run_pipeline(sessions, ports, tokens[2 * r + 1], batches)
        assert stored == count, (stored, count)
        raw_rates.append(count / raw_seconds)
        pipeline_rates.append(count / seconds)
        print(
            f"round {r + 1}: raw {count / raw_seconds:,.0f} rows/s, "
            f"ingestion {count / seconds:,.0f} rows/s ({alerts} alerts raised)"
        )
    engine.dispose()
    raw = statistics.median(raw_rates)
    pipeline = statistics.median(pipeline_rates)
    ratio = pipeline / raw
    print(f"baseline (raw batched INSERT, {size}/transaction): {raw:,.0f} rows/s")
    print(f"measured (ingestion pipeline, {size}/batch):      {pipeline:,.0f} rows/s")
    print(f"ratio: {ratio:.2f} (target >= {TARGET})")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
