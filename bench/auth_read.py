"""Authenticated patient-record read vs a bare Starlette JSON endpoint.

Target: GET /v1/patients/{id} with a bearer token (authentication + object access check +
audit row committed before the response) reaches at least 0.25x the requests/s of a bare
Starlette JSON endpoint, same server (uvicorn), same worker count (1), same run; wrk is the load
generator in a separate process. The two loads alternate for ``--rounds`` rounds and the median
of the rounds' ratios is reported. Runs on PostgreSQL (default) or SQLite (--db sqlite).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from harness import alternate, report_rounds, seed_patient, throwaway_postgres, uvicorn_server, wrk
from telehealth.config import Settings
from telehealth.db.migrate import upgrade


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    with throwaway_postgres() as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with database(args.db, workdir) as url:
            env = {
                "TELEHEALTH_DATA_DIR": str(workdir),
                "TELEHEALTH_DATABASE_URL": url,
                "TELEHEALTH_API_TOKEN_MINUTES": "1440",
                "TELEHEALTH_ENV": "test",
            }
            upgrade(url)
            settings = Settings(data_dir=workdir, database_url=url, api_token_minutes=1440)
            seeded = seed_patient(settings)
            with (
                uvicorn_server(
                    "bare_starlette:app", env={"PYTHONPATH": str(Path(__file__).parent)}
                ) as base,
                uvicorn_server(
                    "telehealth.app:create_app_from_env", factory=True, env=env
                ) as server,
            ):
                pairs = alternate(
                    lambda: wrk(base + "/hello", seconds=args.seconds),
                    lambda: wrk(
                        f"{server}/v1/patients/{seeded.patient_id}",
                        seconds=args.seconds,
                        headers={"Authorization": f"Bearer {seeded.token}"},
                    ),
                    args.rounds,
                )
            rows = _audit_rows(url)
    print(f"database: {args.db}")
    ratio = report_rounds(pairs, "bare Starlette JSON", "audited read")
    print(f"audit rows written: {rows} (one per read)")
    print(f"median ratio: {ratio:.3f} (target >= 0.25)")


def _audit_rows(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM audit_events WHERE action = 'read'"))
        value = int(count.scalar_one())
    engine.dispose()
    return value


if __name__ == "__main__":
    main()
