"""Keyed reads: many requests' lookups answered by one statement, each with its own row."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from telehealth.access.repository import BEARER_PATIENT_READ
from telehealth.access.tables import BreakGlassGrant
from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.db.batch import LoopBatcher
from telehealth.db.engine import make_engine
from telehealth.db.reader import AsyncPostgres, FastReader, make_reader
from telehealth.identity import credentials
from telehealth.identity.queries import BEARER_ACTOR
from tests.support import World, scope_for

pytestmark = pytest.mark.db


@pytest.fixture
def engine(settings: Settings, world: World) -> Iterator[Engine]:
    engine = make_engine(settings.effective_database_url)
    yield engine
    engine.dispose()


def _lookups(world: World, clock: FrozenClock) -> list[dict[str, Any]]:
    """The pairs (token, patient) the test asks about, the unknown and the unrelated included."""
    now = clock.now()
    asks = []
    for who in ("patient_a", "patient_b", "clinician_a", "clinician_x", "coordinator"):
        for whose in ("patient_a", "patient_b"):
            asks.append(
                {
                    "token_hash": credentials.digest(world[who].token),
                    "patient_id": world[whose].patient_id,
                    "now": now,
                }
            )
    asks.append(
        {"token_hash": credentials.digest("no-such-token"), "patient_id": uuid.uuid4(), "now": now}
    )
    asks.append(
        {
            "token_hash": credentials.digest(world["admin"].token),
            "patient_id": uuid.uuid4(),
            "now": now,
        }
    )
    return asks


async def _together(reader: FastReader, asks: list[dict[str, Any]]) -> list[Any]:
    try:
        return await asyncio.gather(*(reader.lookup(BEARER_PATIENT_READ, ask) for ask in asks))
    finally:
        await reader.close()


async def _alone(reader: FastReader, asks: list[dict[str, Any]]) -> list[Any]:
    try:
        return [await reader.one(BEARER_PATIENT_READ.one, ask) for ask in asks]
    finally:
        await reader.close()


def test_lookups_together_answer_as_each_alone(
    engine: Engine, world: World, clock: FrozenClock
) -> None:
    asks = _lookups(world, clock)
    together = asyncio.run(_together(make_reader(engine, pool_size=2), asks))
    alone = asyncio.run(_alone(make_reader(engine, pool_size=2), asks))
    assert together == alone
    by_role = {(row["user_id"], row["id"]): row for row in together if row is not None}
    # The unknown token has no row; a token for a missing patient has its user but no record.
    assert together[-2] is None
    assert together[-1] is not None
    assert together[-1]["id"] is None
    assert together[-1]["user_id"] == world["admin"].user_id
    a, b = world["patient_a"].patient_id, world["patient_b"].patient_id
    assert by_role[(world["patient_a"].user_id, a)]["given_name"] == "CanaryA"
    assert by_role[(world["patient_a"].user_id, b)]["given_name"] == "CanaryB"
    assert by_role[(world["clinician_a"].user_id, a)]["in_care"] is True
    assert by_role[(world["clinician_a"].user_id, b)]["in_care"] is False
    assert by_role[(world["coordinator"].user_id, a)]["in_care"] is False


def test_a_batch_reads_each_keys_own_time(
    engine: Engine, world: World, clock: FrozenClock, settings: Settings
) -> None:
    """Break-glass grants are judged at each request's own time, also within one batch."""
    with scope_for(settings, clock) as scope:
        scope.session.add(
            BreakGlassGrant(
                clinician_id=world["clinician_x"].user_id,
                patient_id=world["patient_b"].patient_id,
                org_id=world.org_id,
                reason="patient unconscious in clinic",
                created_at=clock.now(),
                expires_at=clock.now() + timedelta(hours=1),
            )
        )
    token_hash = credentials.digest(world["clinician_x"].token)
    patient = world["patient_b"].patient_id
    later = clock.now() + timedelta(days=2)
    asks = [
        {"token_hash": token_hash, "patient_id": patient, "now": clock.now()},
        {"token_hash": token_hash, "patient_id": patient, "now": later},
    ]
    during, after = asyncio.run(_together(make_reader(engine, pool_size=1), asks))
    assert during["break_glass"] is True
    assert after["break_glass"] is False


def test_the_token_only_lookup_finds_the_actor(engine: Engine, world: World) -> None:
    async def look() -> list[Any]:
        reader = make_reader(engine, pool_size=1)
        try:
            return await asyncio.gather(
                *(
                    reader.lookup(BEARER_ACTOR, {"token_hash": credentials.digest(token)})
                    for token in (world["patient_a"].token, "nope", world["admin"].token)
                )
            )
        finally:
            await reader.close()

    first, missing, last = asyncio.run(look())
    assert first["user_id"] == world["patient_a"].user_id
    assert first["own_patient_id"] == world["patient_a"].patient_id
    assert missing is None
    assert last["user_id"] == world["admin"].user_id


def test_postgres_lookups_share_statements(
    engine: Engine, world: World, clock: FrozenClock
) -> None:
    reader = make_reader(engine, pool_size=2)
    if not isinstance(reader, AsyncPostgres):
        pytest.skip("SQLite reads each key in place")
    statements: list[int] = []
    original = reader._look_up

    async def counted(keyed: Any, batch: list[Any]) -> list[Any]:
        statements.append(len(batch))
        return await original(keyed, batch)

    reader._look_up = counted  # type: ignore[method-assign]
    asks = _lookups(world, clock)
    rows = asyncio.run(_together(reader, asks))
    assert len(rows) == len(asks)
    # Lookups made in one turn of the event loop share the first statement.
    assert statements == [len(asks)]


def test_batcher_fails_each_item_of_a_failing_batch_and_goes_on() -> None:
    calls: list[list[int]] = []

    async def run(items: list[int]) -> list[int | Exception]:
        calls.append(items)
        if 3 in items:
            raise RuntimeError("the database went away")
        return [item * 10 if item != 5 else ValueError("five") for item in items]

    async def main() -> list[Any]:
        batcher: LoopBatcher[int, int] = LoopBatcher(run, max_batch=2)
        return await asyncio.gather(
            *(batcher.submit(n) for n in range(1, 7)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert calls == [[1, 2], [3, 4], [5, 6]]
    assert results[:2] == [10, 20]
    assert isinstance(results[2], RuntimeError)
    assert isinstance(results[3], RuntimeError)
    assert isinstance(results[4], ValueError)
    assert results[5] == 60


def test_submissions_made_while_a_batch_runs_form_the_next() -> None:
    calls: list[list[int]] = []
    release = asyncio.Event()

    async def run(items: list[int]) -> list[int | Exception]:
        calls.append(items)
        if len(calls) == 1:
            await release.wait()
        return list(items)

    async def main() -> list[int]:
        batcher: LoopBatcher[int, int] = LoopBatcher(run, max_batch=100)
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        later = [asyncio.ensure_future(batcher.submit(n)) for n in (2, 3, 4)]
        await asyncio.sleep(0)
        release.set()
        return [await first, *[await f for f in later]]

    assert asyncio.run(main()) == [1, 2, 3, 4]
    assert calls == [[1], [2, 3, 4]]


def test_batcher_started_on_a_finished_loop_starts_again() -> None:
    async def run(items: list[int]) -> list[int | Exception]:
        return list(items)

    batcher: LoopBatcher[int, int] = LoopBatcher(run, max_batch=8)
    assert asyncio.run(batcher.submit(1)) == 1
    assert asyncio.run(batcher.submit(2)) == 2
