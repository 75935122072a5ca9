"""The server's log: one JSON line per request, with its request id, and no PHI or secrets.

The logging configuration is process-wide, so the server runs in a child process with the
configuration it has in production (``configure_logging``); its standard error is the log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from telehealth.clock import FrozenClock
from telehealth.config import Settings
from tests.support import World

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, logging, sys
from datetime import datetime
from fastapi.testclient import TestClient
from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Environment, Settings
from telehealth.logging import configure_logging, get_logger

configure_logging()
# The test client's own log lines (it prints the URLs it asks for) are not the server's.
logging.getLogger("httpx2").setLevel(logging.WARNING)
ask = json.loads(sys.argv[1])
settings = Settings(
    env=Environment.TEST, data_dir=ask["data_dir"], database_url=ask["database_url"],
    public_url="http://testserver", api_token_minutes=1440,
)
answers = []
# The tokens were made on the test's frozen clock: the child reads the same one, never the real.
clock = FrozenClock(datetime.fromisoformat(ask["now"]))
with TestClient(create_app(settings, clock=clock)) as client:
    for path, token in ask["requests"]:
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        answers.append([response.status_code, response.headers["x-request-id"]])
get_logger("telehealth.test").info("masked", given_name="Alice", token="tok-123", state="TX")
print(json.dumps(answers))
"""


def _serve(
    settings: Settings, clock: FrozenClock, requests: list[tuple[str, str]]
) -> tuple[list[Any], list[str]]:
    ask = {
        "now": clock.now().isoformat(),
        "data_dir": str(settings.data_dir),
        "database_url": settings.effective_database_url,
        "requests": requests,
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(ask)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout), done.stderr.splitlines()


def test_each_request_logs_one_json_line_without_phi(
    settings: Settings, clock: FrozenClock, world: World
) -> None:
    patient = world["patient_a"]
    own = f"/v1/patients/{patient.patient_id}"
    hidden = f"/v1/patients/{world['patient_b'].patient_id}?name=CanaryB"
    answers, stderr = _serve(
        settings, clock, [(own, patient.token), (hidden, patient.token), (own, "not-a-token")]
    )
    assert [status for status, _ in answers] == [200, 404, 401]
    lines = [json.loads(line) for line in stderr if line.startswith("{")]
    requests = [line for line in lines if line["event"] == "request"]
    assert [line["request_id"] for line in requests] == [rid for _, rid in answers]
    assert {line["route"] for line in requests} == {"/v1/patients/{patient_id}"}
    assert [line["status"] for line in requests] == [200, 404, 401]
    assert all(line["level"] == "info" and line["timestamp"].endswith("Z") for line in requests)
    everything = "\n".join(stderr)
    for secret in ("CanaryA", "SecretA", "CanaryB", patient.token, str(patient.patient_id)):
        assert secret not in everything
    assert "Alice" not in everything
    assert "tok-123" not in everything
    [masked] = [line for line in lines if line["event"] == "masked"]
    assert masked["given_name"] == masked["token"] == "***"
    assert masked["state"] == "TX"


def test_an_unmatched_path_is_logged_without_its_path(
    settings: Settings, clock: FrozenClock, world: World
) -> None:
    path = f"/v1/no-such-thing/{uuid.uuid4()}"
    answers, stderr = _serve(settings, clock, [(path, world["patient_a"].token)])
    assert answers[0][0] == 404
    [line] = [json.loads(s) for s in stderr if s.startswith("{") and '"request"' in s]
    assert line["route"] == "unmatched"
    assert path.rsplit("/", 1)[1] not in "\n".join(stderr)


FAILING = """
import logging, sys
from sqlalchemy import text
from telehealth.db.engine import make_engine
from telehealth.logging import configure_logging, get_logger

configure_logging()
canary = sys.argv[2]
engine = make_engine(sys.argv[1])
statements = [
    # Fails everywhere: SQLAlchemy's message would list the bound parameters.
    ("INSERT INTO no_such_table (value) VALUES (:value)", {"value": canary}),
    # PostgreSQL's own message quotes the value it could not convert.
    ("SELECT CAST(:value AS INTEGER) + 1 FROM no_such_table", {"value": canary}),
    ("SELECT CAST(CAST(:value AS TEXT) AS INTEGER)", {"value": canary}),
]
for statement, params in statements:
    try:
        with engine.connect() as connection:
            connection.execute(text(statement), params)
    except Exception:
        get_logger("telehealth.test").exception("statement_failed")
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
engine.dispose()
"""


def test_a_failing_statement_logs_no_parameter(settings: Settings) -> None:
    canary = "Canary" + uuid.uuid4().hex[:8]
    done = subprocess.run(
        [sys.executable, "-c", FAILING, settings.effective_database_url, canary],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    structured = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    failures = [line for line in structured if line["event"] == "statement_failed"]
    assert len(failures) >= 2
    assert all("sqlalchemy.exc." in line["exception"] for line in failures)
    assert done.stderr.count("Exception in ASGI application") == len(failures)
    assert "Traceback (most recent call last)" in done.stderr
    assert canary not in done.stderr
