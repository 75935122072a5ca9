"""Shared benchmark plumbing: free ports, server processes, wrk runs."""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from telehealth.bootstrap import bootstrap
from telehealth.config import Settings
from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.identity import service as identity
from telehealth.identity.model import Role
from telehealth.scope import open_scope

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PG_SERVER = os.environ.get(
    "TELEHEALTH_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@dataclass(frozen=True)
class SeededPatient:
    org_id: uuid.UUID
    patient_id: uuid.UUID
    user_id: uuid.UUID  # the patient's account
    token: str  # the patient's own API bearer token


def seed_patient(settings: Settings, email: str = "bench@example.test") -> SeededPatient:
    """One organization with one patient who has an account and a day-long API token."""
    engine = make_engine(settings.effective_database_url)
    scope = open_scope(make_sessionmaker(engine), bootstrap(settings), request_id="bench")
    org = identity.create_organization(scope, "Bench Clinic")
    user = identity.create_user(
        scope,
        org_id=org.id,
        email=email,
        role=Role.PATIENT,
        display_name="Bench",
        password=None,
    ).user
    patient = identity.create_patient(
        scope,
        org_id=org.id,
        given_name="Bench",
        family_name="Patient",
        birth_date=date(1980, 1, 1),
        home_state="TX",
        user_id=user.id,
    )
    token = identity.issue_token(scope, user, label="bench", minutes=24 * 60, mfa_verified=True)
    scope.uow.commit()
    engine.dispose()
    return SeededPatient(org.id, patient.id, user.id, token.secret)


@contextmanager
def throwaway_postgres(prefix: str = "th_bench", server: str = PG_SERVER) -> Iterator[str]:
    """A fresh PostgreSQL database for one benchmark run, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def uvicorn_server(
    target: str,
    *,
    factory: bool = False,
    env: Mapping[str, str] | None = None,
    workers: int = 1,
) -> Iterator[str]:
    """Runs ``uvicorn target`` in its own process (one worker unless told) and yields its URL."""
    port = free_port()
    args = [
        PYTHON,
        "-m",
        "uvicorn",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if factory:
        args.append("--factory")
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(url + "/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def wrk(url: str, **options: Any) -> float:
    """Requests per second reported by wrk (a separate process, as a load generator must be);
    ``options`` are :func:`wrk_output`'s."""
    output = wrk_output(url, **options)
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None:
        raise RuntimeError(output)
    return float(match.group(1))


def wrk_output(
    url: str,
    *,
    seconds: int = 10,
    connections: int = 64,
    threads: int = 2,
    headers: Mapping[str, str] | None = None,
    script: Path | None = None,
) -> str:
    """What wrk prints for a run (``--latency``); a failed response fails the run."""
    binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit("wrk is required: apt-get install wrk")
    args = [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    if script is not None:
        args += ["-s", str(script)]
    output = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"{errors.group(1)} failed responses during the run:\n{output}")
    return output


def alternate(
    baseline: Callable[[], float], measured: Callable[[], float], rounds: int
) -> list[tuple[float, float]]:
    """Runs the baseline and the measured load alternately, ``rounds`` times each, and returns
    the pairs: on a shared machine, load from elsewhere then falls on both sides of a round."""
    return [(baseline(), measured()) for _ in range(rounds)]


def report_rounds(pairs: list[tuple[float, float]], baseline: str, measured: str) -> float:
    """Prints each round and returns the median ratio (measured / baseline)."""
    ratios = []
    for number, (base, value) in enumerate(pairs, start=1):
        ratios.append(value / base)
        print(
            f"round {number}: {baseline} {base:9.0f} req/s   {measured} {value:9.0f} req/s"
            f"   ratio {value / base:.3f}"
        )
    return statistics.median(ratios)
