"""Audit completeness for PHI routes, durability of denials, append-only storage, verification."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from telehealth.audit import repository
from telehealth.cli import app as cli
from telehealth.config import Settings
from tests.support import World, login, scope_for

pytestmark = pytest.mark.db


def _rows(settings: Settings) -> list[dict[str, object]]:
    engine = create_engine(settings.effective_database_url)
    with engine.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                text(
                    "SELECT chain, seq, action, outcome, object_type, object_id, actor_id, "
                    "actor_role, "
                    "patient_id, request_id, detail FROM audit_events ORDER BY chain, seq"
                )
            )
        ]
    engine.dispose()
    return rows


def _keys(settings: Settings) -> set[tuple[object, object]]:
    return {(r["chain"], r["seq"]) for r in _rows(settings)}


def _new_rows(settings: Settings, before: set[tuple[object, object]]) -> list[dict[str, object]]:
    """Rows that were not there before, in append order (one request appends to one chain)."""
    return [r for r in _rows(settings) if (r["chain"], r["seq"]) not in before]


def test_each_phi_read_and_write_leaves_exactly_one_row(
    client: TestClient, world: World, settings: Settings
) -> None:
    patient = world["patient_a"]
    start = _keys(settings)
    response = client.get(f"/v1/patients/{patient.patient_id}", headers=patient.headers)
    assert response.status_code == 200
    rows = _new_rows(settings, start)
    assert [(r["action"], r["object_type"], r["outcome"]) for r in rows] == [
        ("read", "patient", "success")
    ]
    assert str(rows[0]["patient_id"]).replace("-", "") == patient.patient_id.hex  # type: ignore[union-attr]
    assert rows[0]["request_id"] == response.headers["x-request-id"]

    start = _keys(settings)
    client.patch(
        f"/v1/patients/{patient.patient_id}",
        json={"phone": "555-0199", "version": 1},
        headers=patient.headers,
    )
    rows = _new_rows(settings, start)
    assert [(r["action"], r["object_type"]) for r in rows] == [("update", "patient")]


def test_audit_rows_hold_no_phi_values(
    client: TestClient, world: World, settings: Settings
) -> None:
    patient = world["patient_a"]
    client.patch(
        f"/v1/patients/{patient.patient_id}",
        json={"given_name": "Zebediah", "version": 1},
        headers=patient.headers,
    )
    client.get(f"/v1/patients/{patient.patient_id}", headers=patient.headers)
    dump = repr(_rows(settings))
    for canary in ("Zebediah", "CanaryA", "SecretA", "1970-01-01", patient.token):
        assert canary not in dump


def test_denial_is_recorded_even_though_the_request_failed(
    client: TestClient, world: World, settings: Settings
) -> None:
    start = _keys(settings)
    response = client.get(
        f"/v1/patients/{world['patient_a'].patient_id}", headers=world["patient_b"].headers
    )
    assert response.status_code == 404
    rows = _new_rows(settings, start)
    assert [(r["action"], r["outcome"]) for r in rows] == [("access_denied", "denied")]
    assert str(rows[0]["actor_id"]).replace("-", "") == world["patient_b"].user_id.hex


def test_login_success_and_failure_are_recorded(
    client: TestClient, settings: Settings, clock: object, app: object
) -> None:
    from tests.support import seed_world

    people = seed_world(settings, clock, with_passwords=True)  # type: ignore[arg-type]
    start = _keys(settings)
    login(client, people["patient_a"].email, "a wrong password")
    login(client, people["patient_a"].email)
    rows = _new_rows(settings, start)
    # Two requests, so possibly two chains: compare without order.
    assert sorted((r["action"], r["outcome"]) for r in rows) == [
        ("login", "failure"),
        ("login", "success"),
    ]


def test_application_role_cannot_change_audit_rows(
    client: TestClient, world: World, settings: Settings, dialect: str
) -> None:
    engine = create_engine(settings.effective_database_url)
    statements = ["UPDATE audit_events SET outcome = 'success'", "DELETE FROM audit_events"]
    if dialect == "postgresql":
        statements.append("TRUNCATE audit_events")
    refused = 0
    for statement in statements:
        with engine.connect() as conn:
            try:
                conn.execute(text(statement))
                conn.commit()
            except DBAPIError:
                refused += 1
    engine.dispose()
    assert refused == len(statements)
    assert len(_rows(settings)) > 0


def _tamper(settings: Settings, dialect: str, statement: str) -> None:
    """Simulates an offline edit by someone who bypassed the guards (e.g. with the disk file)."""
    engine = create_engine(settings.effective_database_url)
    with engine.begin() as conn:
        if dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
        conn.execute(text(statement))
    engine.dispose()


def _verify(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("TELEHEALTH_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("TELEHEALTH_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(cli, ["audit", "verify"])
    return result.exit_code, result.output


# {c} is the chain the seeded world was written to (one transaction, one chain).
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor_role = 'admin' WHERE chain = {c} AND seq = 3",
        "UPDATE audit_events SET detail = '{{\"x\": 1}}' WHERE chain = {c} AND seq = "
        "(SELECT MAX(seq) FROM audit_events WHERE chain = {c})",
        "DELETE FROM audit_events WHERE chain = {c} AND seq = 2",
        "DELETE FROM audit_events WHERE chain = {c} AND seq = "
        "(SELECT MAX(seq) FROM audit_events WHERE chain = {c})",
        # Swap rows 2 and 3 through negative numbers, so the key stays unique at every step.
        "UPDATE audit_events SET seq = CASE seq WHEN 2 THEN -3 ELSE -2 END "
        "WHERE chain = {c} AND seq IN (2, 3); "
        "UPDATE audit_events SET seq = -seq WHERE seq < 0",
        "UPDATE audit_events SET chain = ({c} + 1) % 16 WHERE chain = {c} AND seq = 1",
    ],
    ids=["edit", "edit-last", "delete-middle", "delete-last", "reorder", "move-chain"],
)
def test_audit_verify_detects_tampering(
    client: TestClient,
    world: World,
    settings: Settings,
    dialect: str,
    monkeypatch: pytest.MonkeyPatch,
    statement: str,
) -> None:
    code, output = _verify(settings, monkeypatch)
    assert code == 0, output
    seeded_chain = int(_rows(settings)[0]["chain"])  # type: ignore[call-overload]
    statement = statement.format(c=seeded_chain)
    for part in statement.split("; "):
        _tamper(settings, dialect, part)
    code, output = _verify(settings, monkeypatch)
    assert code == 1
    assert "broken" in output


def test_shown_search_lists_the_events_search_finds(
    client: TestClient, world: World, settings: Settings
) -> None:
    """The audit-log page's column-only search and the API's search give the same events in
    the same order, for each filter alone and combined (each set has its own statement)."""
    patient = world["patient_a"]
    client.get(f"/v1/patients/{patient.patient_id}", headers=patient.headers)
    client.get(f"/v1/patients/{patient.patient_id}", headers=world["clinician_a"].headers)
    now = world.clock.now()
    filters: list[dict[str, Any]] = [
        {},
        {"patient_id": patient.patient_id},
        {"actor_id": world["clinician_a"].user_id},
        {"action": "read"},
        {"since": now - timedelta(days=1)},
        {"until": now + timedelta(days=1)},
        {"until": now - timedelta(days=1)},
        {"patient_id": patient.patient_id, "action": "read", "since": now - timedelta(days=1)},
    ]
    with scope_for(settings, world.clock) as scope:
        for given in filters:
            rows = repository.search(
                scope.session, repository.AuditFilter(org_id=world.org_id, limit=500, **given)
            )
            shown = repository.search_shown(
                scope.session, repository.AuditFilter(org_id=world.org_id, limit=500, **given)
            )
            assert [
                (r.at, r.action, r.object_type, r.object_id, r.actor_id, r.patient_id, r.detail)
                for r in rows
            ] == [
                (e.at, e.action, e.object_type, e.object_id, e.actor_id, e.patient_id, e.detail)
                for e in shown
            ], given

        def shown_of(org_id: uuid.UUID, **given: Any) -> list[Any]:
            return repository.search_shown(
                scope.session, repository.AuditFilter(org_id=org_id, **given)
            )

        assert shown_of(world.org_id, limit=2) == shown_of(world.org_id)[:2]
        reads = shown_of(world.org_id, action="read")
        assert reads
        assert {e.action for e in reads} == {"read"}
        assert not shown_of(uuid.uuid4())
