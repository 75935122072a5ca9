"""Schemathesis fuzzes every operation of the app's own OpenAPI document, in process (ASGI) on
the frozen test clock, as a patient, a caring clinician, a coordinator and an administrator,
with all of Schemathesis's default checks: no server error, documented status codes, content
types, response schemas and headers, no ignored authentication, valid input accepted and
invalid input (one role, negative mode) refused.

The run is bounded (derandomized, so a fixed seed, and a few examples per operation) to stay
a suite test; a longer run takes ``TELEHEALTH_FUZZ_EXAMPLES`` examples per operation::

    TELEHEALTH_FUZZ_EXAMPLES=100 .venv/bin/pytest -p no:cacheprovider tests/web/test_fuzz.py

SQLite only: the fuzzer exercises the HTTP surface, which is one code path on both databases.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from tests.support import World

log = logging.getLogger(__name__)
EXAMPLES = int(os.environ.get("TELEHEALTH_FUZZ_EXAMPLES", "2"))
# Operations that end the credential the run is using: after one of them every later case
# would only see 401s.
ENDS_THE_CREDENTIAL = {
    ("POST", "/v1/auth/logout"),
    ("DELETE", "/v1/tokens/{token_id}"),
    ("POST", "/v1/me/password"),
}


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    target = tmp_path / "telehealth.db"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite:///{target}"


# Schema-valid requests may still break a rule the schema cannot state (a specialty that
# takes no cases, an unknown questionnaire, a forged cursor): the app answers those with a
# 422 problem like any invalid payload (ADR 0002), and tus answers a malformed header (its
# base64 metadata) with 400. Every other check keeps its defaults.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "422", "429"]
            },
            # tus refuses a request without its version header with 412, as its spec says.
            "negative_data_rejection": {
                "expected-statuses": ["400", "401", "403", "404", "406", "412", "422"]
            },
        }
    }
)

# A tus PATCH body is raw bytes under tus's own media type.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


def _operations(app: FastAPI) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if (op.method.upper(), op.path) not in ENDS_THE_CREDENTIAL]


def _fuzz(operation: Any, headers: dict[str, str], mode: GenerationMode) -> int:
    """Runs ``operation``'s examples; returns how many cases were sent."""
    sent = 0

    @given(case=operation.as_strategy(mode, headers=headers))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        case.call_and_validate(headers=headers)

    try:
        run()
    except Unsatisfiable:
        # Nothing to get wrong: an operation without parameters or body has no invalid input.
        assert mode is GenerationMode.NEGATIVE
    return sent


@pytest.mark.parametrize(
    ("role", "mode"),
    [
        ("patient_a", GenerationMode.POSITIVE),
        ("clinician_a", GenerationMode.POSITIVE),
        ("coordinator", GenerationMode.POSITIVE),
        ("admin", GenerationMode.POSITIVE),
        # Invalid input is refused the same way whoever sends it: one role is enough.
        ("coordinator", GenerationMode.NEGATIVE),
    ],
)
def test_every_operation_conforms_to_the_schema(
    app: FastAPI, client: TestClient, world: World, role: str, mode: GenerationMode
) -> None:
    failures: list[str] = []
    sent = 0
    operations = _operations(app)
    for operation in operations:
        try:
            sent += _fuzz(operation, world[role].headers, mode)
        except (Exception, BaseExceptionGroup) as exc:  # every operation's failures count
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    log.info("fuzzed %s as %s: %d cases, %d operations", mode.value, role, sent, len(operations))
    assert not failures, "\n\n".join(failures)
    assert sent > 0
