"""Group commit: many requests' events in one transaction, a valid chain, isolated failures."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from telehealth.audit import committer as committer_module
from telehealth.audit import repository
from telehealth.audit.committer import AuditCommitter, PostgresCommitter, make_committer
from telehealth.audit.keys import chain_keys
from telehealth.audit.model import Action, AuditEvent, ChainKeys, Outcome
from telehealth.audit.service import verify_chain
from telehealth.audit.tables import AuditRow
from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.db.reader import AsyncPostgres, FastReader, make_reader
from telehealth.errors import DomainError, ErrorCode

pytestmark = pytest.mark.db


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    from telehealth.db.migrate import upgrade

    upgrade(settings.effective_database_url, "heads")
    engine = make_engine(settings.effective_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def keys(settings: Settings) -> ChainKeys:
    return chain_keys(settings)


def _event(clock: FrozenClock, n: int, object_type: str = "patient") -> AuditEvent:
    return AuditEvent(
        at=clock.now() + timedelta(microseconds=n),
        action=Action.READ,
        outcome=Outcome.SUCCESS,
        object_type=object_type,
        object_id=str(uuid.uuid4()),
        actor_id=uuid.uuid4() if n % 2 else None,
        actor_role="patient" if n % 2 else None,
        patient_id=uuid.uuid4(),
        request_id=f"req-{n}",
        detail={"n": n, "odd": bool(n % 2)},
    )


def _verify(engine: Engine, keys: ChainKeys) -> tuple[bool, int]:
    with make_sessionmaker(engine)() as session:
        result = verify_chain(session, keys, {})
        count = session.execute(select(func.count()).select_from(AuditRow)).scalar_one()
    return result.ok, count


async def _run(
    committers: list[AuditCommitter], events: list[AuditEvent], readers: list[FastReader]
) -> list[Any]:
    async def one(i: int, event: AuditEvent) -> None:
        await committers[i % len(committers)].append([event])

    results = await asyncio.gather(
        *(one(i, event) for i, event in enumerate(events)), return_exceptions=True
    )
    for committer in committers:
        await committer.close()
    for reader in readers:
        await reader.close()
    return results


def test_concurrent_requests_share_batches_and_keep_the_chain_valid(
    engine: Engine, keys: ChainKeys, clock: FrozenClock
) -> None:
    reader = make_reader(engine, pool_size=4)
    group = make_committer(engine, reader, keys.current)
    events = [_event(clock, n) for n in range(300)]
    before = _verify(engine, keys)[1]

    results = asyncio.run(_run([group], events, [reader]))

    assert results == [None] * len(events)
    ok, count = _verify(engine, keys)
    assert ok
    assert count == before + len(events)


def test_two_committers_on_one_chain_take_turns(
    engine: Engine, keys: ChainKeys, clock: FrozenClock, dialect: str
) -> None:
    """Two server processes whose committers picked the same chain: heads move under each
    other, and each retries on the new head rather than forking the chain."""
    readers = [make_reader(engine, pool_size=2) for _ in range(2)]
    groups = [make_committer(engine, reader, keys.current) for reader in readers]
    for group in groups:
        group._chain = 7  # type: ignore[attr-defined]
    events = [_event(clock, n) for n in range(200)]

    results = asyncio.run(_run(groups, events, readers))

    assert results == [None] * len(events)
    ok, _ = _verify(engine, keys)
    assert ok
    with make_sessionmaker(engine)() as session:
        seqs = session.execute(
            select(AuditRow.seq).where(AuditRow.chain == 7).order_by(AuditRow.seq)
        ).scalars()
        assert list(seqs)[-len(events) :] == list(range(1, len(events) + 1))


def test_a_failing_submission_fails_alone(
    engine: Engine, keys: ChainKeys, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    poisoned = "poisoned"

    def refuse(records: Any) -> None:
        if any(r.event.object_type == poisoned for r in records):
            raise RuntimeError("refused by the database")

    original_sql = repository.append_if_head_statement
    original_append = repository.append

    def statement(chain_id: int, records: Any, carried: Any = None) -> Any:
        refuse(records)
        return original_sql(chain_id, records, carried)

    def append(session: Any, chain_id: int, events: Any, key: Any) -> Any:
        records = original_append(session, chain_id, events, key)
        refuse(records)
        return records

    monkeypatch.setattr(repository, "append_if_head_statement", statement)
    monkeypatch.setattr(repository, "append", append)
    reader = make_reader(engine, pool_size=2)
    group = make_committer(engine, reader, keys.current)
    events = [_event(clock, n, poisoned if n == 13 else "patient") for n in range(40)]
    before = _verify(engine, keys)[1]

    results = asyncio.run(_run([group], events, [reader]))

    failures = [r for r in results if r is not None]
    assert len(failures) == 1
    assert isinstance(results[13], DomainError)
    assert results[13].code is ErrorCode.UNAVAILABLE
    ok, count = _verify(engine, keys)
    assert ok
    assert count == before + len(events) - 1


def test_postgresql_writes_a_batch_as_one_statement(
    engine: Engine,
    keys: ChainKeys,
    clock: FrozenClock,
    dialect: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if dialect != "postgresql":
        pytest.skip("the single-statement append is PostgreSQL's")
    reader = make_reader(engine, pool_size=2)
    assert isinstance(reader, AsyncPostgres)
    group = make_committer(engine, reader, keys.current)
    assert isinstance(group, PostgresCommitter)
    statements: list[int] = []
    original = reader.execute

    async def counting(statement: Any, params: Any) -> int:
        statements.append(params["new_seq"] - params["old_seq"])
        return await original(statement, params)

    monkeypatch.setattr(reader, "execute", counting)
    events = [_event(clock, n) for n in range(100)]

    asyncio.run(_run([group], events, [reader]))

    assert sum(statements) == len(events)
    assert len(statements) < len(events)  # batches formed while earlier ones were written
    assert _verify(engine, keys)[0]


def test_max_batch_bounds_a_transaction(
    engine: Engine, keys: ChainKeys, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(committer_module, "MAX_BATCH", 8)
    reader = make_reader(engine, pool_size=2)
    group = make_committer(engine, reader, keys.current)
    events = [_event(clock, n) for n in range(50)]
    results = asyncio.run(_run([group], events, [reader]))
    assert results == [None] * len(events)
    assert _verify(engine, keys)[0]


def test_reads_wait_for_the_group_and_writes_commit_their_own_rows(
    client: Any,
    world: Any,
    app: Any,
    keys: ChainKeys,
    dialect: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the group commit failing, a read that goes through it is refused (no record
    without its audit row) while a write, whose audit rows share its own transaction, still
    succeeds. On PostgreSQL every read goes through the group; on SQLite only the fast lanes
    do, and a routed read appends its rows in its own transaction."""
    group = app.state.services.audit_group

    async def unavailable(events: Any, inserts: Any = ()) -> None:
        raise DomainError(ErrorCode.UNAVAILABLE, "the audit log is unavailable; try again")

    monkeypatch.setattr(group, "append", unavailable)
    patient = world["patient_a"]
    target = f"/v1/patients/{patient.patient_id}"

    read = client.get(target, headers=patient.headers)
    assert read.status_code == 503
    assert "given_name" not in read.text

    before = _verify(app.state.services.engine, keys)[1]
    page = client.get("/v1/patients", headers=world["coordinator"].headers)
    if dialect == "postgresql":
        assert page.status_code == 503
        assert _verify(app.state.services.engine, keys)[1] == before
    else:
        assert page.status_code == 200, page.text
        ok, listed = _verify(app.state.services.engine, keys)
        assert ok
        assert listed > before

    before = _verify(app.state.services.engine, keys)[1]
    write = client.patch(
        target, json={"phone": "+15125550100", "version": 1}, headers=patient.headers
    )
    assert write.status_code == 200, write.text
    ok, after = _verify(app.state.services.engine, keys)
    assert ok
    assert after == before + 1
