"""The audit chain anchored outside the database: a database writer who drops the append-only
triggers can neither cut a chain's tail below its signed checkpoint nor re-hash an edited row
without `telehealth audit verify` failing."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Connection, create_engine, insert, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from telehealth.app import create_app
from telehealth.audit import repository
from telehealth.audit.model import CHAINS, GENESIS_HASH, canonical_payload
from telehealth.audit.tables import AuditRow
from telehealth.cli import app as cli
from telehealth.clock import FrozenClock
from telehealth.config import DEV_AUDIT_KEYS, Settings
from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.jobs import registered, run_job
from tests.support import World, memory_ports

pytestmark = pytest.mark.db

# What a database writer runs to lift the append-only triggers the foundation migration installs.
DROP_TRIGGERS = {
    "postgresql": [
        "DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events",
        "DROP TRIGGER IF EXISTS audit_events_no_update_delete ON audit_events",
        "DROP FUNCTION IF EXISTS telehealth_audit_append_only()",
    ],
    "sqlite": [
        "DROP TRIGGER IF EXISTS audit_events_no_update",
        "DROP TRIGGER IF EXISTS audit_events_no_delete",
    ],
}

NEW_KEY = "a2:" + "QUJD" * 10 + "QUI="  # 32 bytes


def _verify(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    keys: str = DEV_AUDIT_KEYS,
) -> tuple[int, str]:
    monkeypatch.setenv("TELEHEALTH_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("TELEHEALTH_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TELEHEALTH_AUDIT_KEYS", keys)
    result = CliRunner().invoke(cli, ["audit", "verify", *args])
    return result.exit_code, result.output


@contextmanager
def _unguarded(settings: Settings, dialect: str) -> Iterator[Connection]:
    """A database writer's transaction after dropping the append-only triggers."""
    engine = create_engine(settings.effective_database_url)
    try:
        with engine.begin() as conn:
            for statement in DROP_TRIGGERS[dialect]:
                conn.execute(text(statement))
            yield conn
    finally:
        engine.dispose()


def _seeded_chain(settings: Settings) -> int:
    engine = create_engine(settings.effective_database_url)
    with engine.connect() as conn:
        chain = conn.execute(text("SELECT chain FROM audit_events ORDER BY at LIMIT 1"))
        value = int(chain.scalar_one())
    engine.dispose()
    return value


def _move_head(conn: Connection, chain: int, seq: int, digest: str) -> None:
    conn.execute(
        text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = :c"),
        {"s": seq, "h": digest, "c": chain},
    )


def _cut_newest_row(settings: Settings, dialect: str, chain: int) -> None:
    """Deletes the chain's newest row and rolls its head back onto the row before."""
    with _unguarded(settings, dialect) as conn:
        where = {"c": chain}
        last = conn.execute(text("SELECT MAX(seq) FROM audit_events WHERE chain = :c"), where)
        seq = int(last.scalar_one())
        conn.execute(
            text("DELETE FROM audit_events WHERE chain = :c AND seq = :s"), {**where, "s": seq}
        )
        previous = conn.execute(
            text("SELECT hash FROM audit_events WHERE chain = :c AND seq = :s"),
            {**where, "s": seq - 1},
        ).scalar_one()
        _move_head(conn, chain, seq - 1, previous)


def _edit_and_rehash(settings: Settings, dialect: str, chain: int, seq: int) -> None:
    """Sets one row's actor role to 'admin' and recomputes its hash, every later one and the
    head with the published algorithm (SHA-256), the best a writer without the key can do."""
    engine = make_engine(settings.effective_database_url)
    with Session(engine) as session:
        records = list(repository.iter_chain(session, chain))
    engine.dispose()
    prev = records[seq - 2].hash if seq > 1 else GENESIS_HASH
    with _unguarded(settings, dialect) as conn:
        for record in records[seq - 1 :]:
            event = record.event
            if record.seq == seq:
                event = dataclasses.replace(event, actor_role="admin")
            payload = canonical_payload(chain, record.seq, event)
            digest = hashlib.sha256(prev.encode() + b"\n" + payload).hexdigest()
            conn.execute(
                text(
                    "UPDATE audit_events SET actor_role = :role, prev_hash = :prev, hash = :hash,"
                    " key_id = NULL WHERE chain = :c AND seq = :s"
                ),
                {
                    "role": event.actor_role,
                    "prev": prev,
                    "hash": digest,
                    "c": chain,
                    "s": record.seq,
                },
            )
            prev = digest
        conn.execute(text("UPDATE audit_head SET hash = :h WHERE id = :c"), {"h": prev, "c": chain})


def _run_checkpoint_job(settings: Settings, clock: FrozenClock) -> int:
    job = next(job for job in registered() if job.name == "audit.checkpoint")
    engine = make_engine(settings.effective_database_url)
    try:
        return run_job(job, make_sessionmaker(engine), memory_ports(settings, clock))
    finally:
        engine.dispose()


def _checkpoints(settings: Settings) -> dict[int, dict[str, object]]:
    document = json.loads(settings.audit_checkpoint_file.read_text())
    return {entry["chain"]: entry for entry in document["checkpoints"]}


@pytest.mark.parametrize("writer", ["cli", "job"])
def test_a_tail_cut_below_the_checkpoint_fails_verify(
    client: TestClient,
    world: World,
    settings: Settings,
    clock: FrozenClock,
    dialect: str,
    monkeypatch: pytest.MonkeyPatch,
    writer: str,
) -> None:
    if writer == "cli":
        assert _verify(settings, monkeypatch, "--checkpoint")[0] == 0
    else:
        assert _run_checkpoint_job(settings, clock) > 0
    chain = _seeded_chain(settings)
    _cut_newest_row(settings, dialect, chain)
    code, output = _verify(settings, monkeypatch)
    assert code == 1, output
    assert "chain ends below its signed checkpoint" in output


@pytest.mark.parametrize("checkpointed", [False, True])
@pytest.mark.parametrize("seq", [1, 3])
def test_an_edited_row_rehashed_without_the_key_fails_verify(
    client: TestClient,
    world: World,
    settings: Settings,
    dialect: str,
    monkeypatch: pytest.MonkeyPatch,
    seq: int,
    checkpointed: bool,
) -> None:
    """Row 3 follows keyed rows, so its unkeyed re-hash is refused on its own; rewriting the
    whole chain from row 1 is caught by the checkpoint (without one it is the documented
    limit, and the test expects it to pass)."""
    code, output = _verify(settings, monkeypatch, *(["--checkpoint"] if checkpointed else []))
    assert code == 0, output
    _edit_and_rehash(settings, dialect, _seeded_chain(settings), seq)
    code, output = _verify(settings, monkeypatch)
    if seq == 1 and not checkpointed:
        assert code == 0, output
        return
    assert code == 1, output
    assert "broken" in output


def test_the_checkpoint_job_never_moves_a_checkpoint_back(
    client: TestClient,
    world: World,
    settings: Settings,
    clock: FrozenClock,
    dialect: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not settings.audit_checkpoint_file.exists()
    code, output = _verify(settings, monkeypatch)
    assert code == 0
    assert "no signed checkpoint yet" in output
    _run_checkpoint_job(settings, clock)
    chain = _seeded_chain(settings)
    signed = _checkpoints(settings)[chain]
    code, output = _verify(settings, monkeypatch)
    assert code == 0, output
    assert "no signed checkpoint" not in output
    _cut_newest_row(settings, dialect, chain)
    _run_checkpoint_job(settings, clock)
    assert _checkpoints(settings)[chain] == signed
    assert _verify(settings, monkeypatch)[0] == 1


def test_a_forged_checkpoint_file_is_refused(
    client: TestClient, world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _verify(settings, monkeypatch, "--checkpoint")[0] == 0
    path: Path = settings.audit_checkpoint_file
    document = json.loads(path.read_text())
    document["checkpoints"][0]["head_hash"] = "f" * 64
    path.write_text(json.dumps(document))
    code, output = _verify(settings, monkeypatch)
    assert code == 2
    assert "signature" in output


def test_rows_keep_verifying_after_the_audit_key_is_rotated(
    client: TestClient,
    world: World,
    settings: Settings,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _verify(settings, monkeypatch, "--checkpoint")[0] == 0
    rotated = NEW_KEY + "," + DEV_AUDIT_KEYS
    app = create_app(settings.model_copy(update={"audit_keys": SecretStr(rotated)}), clock=clock)
    patient = world["patient_a"]
    with TestClient(app) as rotated_client:
        for _ in range(3):
            response = rotated_client.get(
                f"/v1/patients/{patient.patient_id}", headers=patient.headers
            )
            assert response.status_code == 200
    app.state.services.engine.dispose()
    engine = create_engine(settings.effective_database_url)
    with engine.connect() as conn:
        key_ids = set(conn.execute(text("SELECT DISTINCT key_id FROM audit_events")).scalars())
    engine.dispose()
    assert key_ids == {"dev", "a2"}
    code, output = _verify(settings, monkeypatch, "--checkpoint", keys=rotated)
    assert code == 0, output
    assert _verify(settings, monkeypatch, keys=rotated)[0] == 0
    # Rows under the old key need it configured: dropping it is a break, not a silent pass.
    code, output = _verify(settings, monkeypatch, keys=NEW_KEY)
    assert code != 0


def _append_unkeyed_row(settings: Settings, dialect: str, chain: int) -> None:
    """Appends a copy of the chain's newest event as an unkeyed SHA-256 row and moves the head
    onto it: what a writer without the key can add after a checkpoint."""
    engine = make_engine(settings.effective_database_url)
    with Session(engine) as session:
        last = list(repository.iter_chain(session, chain))[-1]
    engine.dispose()
    seq = last.seq + 1
    digest = hashlib.sha256(
        last.hash.encode() + b"\n" + canonical_payload(chain, seq, last.event)
    ).hexdigest()
    table = AuditRow.__table__
    with _unguarded(settings, dialect) as conn:
        newest = conn.execute(
            select(table).where(table.c.chain == chain, table.c.seq == last.seq)
        ).one()
        row = {**newest._mapping, "seq": seq, "prev_hash": last.hash, "hash": digest}
        conn.execute(insert(table), [{**row, "key_id": None}])
        _move_head(conn, chain, seq, digest)


def test_the_checkpoint_job_signs_no_unkeyed_row_after_its_checkpoint(
    client: TestClient,
    world: World,
    settings: Settings,
    clock: FrozenClock,
    dialect: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _run_checkpoint_job(settings, clock)
    chain = _seeded_chain(settings)
    signed = _checkpoints(settings)[chain]
    _append_unkeyed_row(settings, dialect, chain)
    _run_checkpoint_job(settings, clock)
    assert _checkpoints(settings)[chain] == signed
    code, output = _verify(settings, monkeypatch)
    assert code == 1, output
    assert "unkeyed row where only keyed rows may follow" in " ".join(output.split())


def test_the_checkpoint_job_moves_a_checkpoint_forward_over_new_rows(
    client: TestClient,
    world: World,
    settings: Settings,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _run_checkpoint_job(settings, clock)
    before = _checkpoints(settings)
    patient = world["patient_a"]
    reads = 8
    for _ in range(reads):
        response = client.get(f"/v1/patients/{patient.patient_id}", headers=patient.headers)
        assert response.status_code == 200
    covered = _run_checkpoint_job(settings, clock)
    after = _checkpoints(settings)
    moved = [c for c in after if c not in before or after[c]["seq"] != before[c]["seq"]]
    assert moved
    # Each read appends at least its own audit row, wherever its chain is.
    assert covered >= reads
    assert _verify(settings, monkeypatch)[0] == 0


def test_the_first_checkpoint_pins_every_chain_even_those_not_written_yet(
    client: TestClient,
    world: World,
    settings: Settings,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _run_checkpoint_job(settings, clock)
    signed = _checkpoints(settings)
    assert set(signed) == set(range(CHAINS))
    assert _verify(settings, monkeypatch)[0] == 0
