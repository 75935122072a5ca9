"""Single statements for the hottest request paths, without the ORM or a worker thread.

Statements are written with SQLAlchemy in the capabilities' repositories, like every other
query, and compiled once per dialect. On PostgreSQL they run on the event loop through an
asyncpg pool; on SQLite (the embedded mode) reads run in place on an autocommit connection,
which in WAL mode reads a snapshot without waiting for writers.

A keyed read (:class:`Keyed`, at most one row per key) is batched on PostgreSQL: the keys of
every request waiting at that moment go to the database as arrays in one statement, which
answers each key's row at its position (:mod:`telehealth.db.batch`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from sqlalchemy import Engine, Select, bindparam, column, func, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

from telehealth.db.base import dumps_json, loads_json
from telehealth.db.batch import LoopBatcher
from telehealth.errors import DomainError, ErrorCode
from telehealth.logging import get_logger

log = get_logger("telehealth.db")

Row = Mapping[str, Any]
# Any SELECT, whatever its columns.
AnySelect = Select[*tuple[Any, ...]]
MAX_KEYS = 512
# What asyncpg raises when the server cannot be reached or goes away mid-statement (refused,
# reset, shutting down or starting up): the database is unavailable, as psycopg's
# OperationalError says on the worker-thread path.
CONNECTION_LOST = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)


def database_unavailable() -> DomainError:
    return DomainError(ErrorCode.UNAVAILABLE, "the service is temporarily unavailable")


# Compared and hashed by identity: keyed reads are module-level constants, and the reader
# looks up each one's batcher on every request.
@dataclass(frozen=True, eq=False)
class Keyed:
    """A SELECT of at most one row per key, in two forms from one builder: ``one`` binds each
    key by name; ``many`` binds each key as an array (``<name>_list``) and answers every
    key's row beside its 1-based position, ``key_position``."""

    one: AnySelect
    many: AnySelect
    names: tuple[str, ...]


def keyed(build: Callable[..., AnySelect], **keys: TypeEngine[Any]) -> Keyed:
    """``build`` gets each key as a column expression, by name, and returns the SELECT."""
    one = build(**{name: bindparam(name, type_=kind) for name, kind in keys.items()})
    given = (
        func.unnest(*(bindparam(f"{name}_list", type_=ARRAY(kind)) for name, kind in keys.items()))
        .table_valued(
            *(column(name, kind) for name, kind in keys.items()), with_ordinality="key_position"
        )
        .render_derived("keys")
    )
    per_key = build(**{name: given.c[name] for name in keys}).lateral("keyed_row")
    many = select(given.c.key_position, per_key).select_from(given).join(per_key, true())
    return Keyed(one, many, tuple(keys))


class FastReader(Protocol):
    async def one(self, statement: AnySelect, params: Mapping[str, Any]) -> Row | None: ...

    async def lookup(self, keyed: Keyed, params: Mapping[str, Any]) -> Row | None:
        """The row of one key (``params`` names every key)."""
        ...

    async def close(self) -> None: ...


def make_reader(engine: Engine, *, pool_size: int) -> FastReader:
    if engine.dialect.name == "postgresql":
        return AsyncPostgres(engine, pool_size=pool_size)
    return InPlaceReader(engine)


class AsyncPostgres:
    def __init__(self, engine: Engine, *, pool_size: int) -> None:
        url = make_url(engine.url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Future[asyncpg.Pool] | None = None
        self._dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]
        # Keyed by the statement itself: statements are module-level constants.
        self._compiled: dict[ClauseElement, tuple[str, tuple[str, ...], dict[str, Any]]] = {}
        self._lookups: dict[Keyed, LoopBatcher[Mapping[str, Any], Row | None]] = {}

    async def one(self, statement: AnySelect, params: Mapping[str, Any]) -> Row | None:
        sql, args = self.compile(statement, params)
        async with self._connection() as connection:
            record = await connection.fetchrow(sql, *args)
        return None if record is None else dict(record.items())

    async def lookup(self, keyed: Keyed, params: Mapping[str, Any]) -> Row | None:
        batcher = self._lookups.get(keyed)
        if batcher is None:
            batcher = LoopBatcher(lambda batch: self._look_up(keyed, batch), max_batch=MAX_KEYS)
            self._lookups[keyed] = batcher
        return await batcher.submit(params)

    async def _look_up(self, keyed: Keyed, batch: list[Mapping[str, Any]]) -> list[Row | None]:
        arrays = {f"{name}_list": [params[name] for params in batch] for name in keyed.names}
        sql, args = self.compile(keyed.many, arrays)
        async with self._connection() as connection:
            records = await connection.fetch(sql, *args)
        found: list[Row | None] = [None] * len(batch)
        for record in records:
            row = dict(record.items())
            found[row.pop("key_position") - 1] = row
        return found

    async def execute(self, statement: ClauseElement, params: Mapping[str, Any]) -> int:
        """Runs one statement as its own (durable) transaction; returns the rows it changed."""
        sql, args = self.compile(statement, params)
        async with self._connection() as connection:
            status = await connection.execute(sql, *args)
        return int(status.rsplit(" ", 1)[-1])

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[PoolConnectionProxy]:
        """A pooled connection; a lost or unreachable server is reported as unavailable (503)
        rather than escaping as a driver error (500)."""
        try:
            async with (await self._current_pool()).acquire() as connection:
                yield connection
        except CONNECTION_LOST as exc:
            log.error("database_unavailable", error=type(exc).__name__)
            raise database_unavailable() from exc

    async def _current_pool(self) -> asyncpg.Pool:
        pool = self._pool
        if pool is None or self._loop is not asyncio.get_running_loop():
            pool = await self._open()
        return pool

    async def close(self) -> None:
        for batcher in self._lookups.values():
            await batcher.close()
        if self._pool is not None and self._loop is asyncio.get_running_loop():
            await self._pool.close()
        elif self._pool is not None:
            self._pool.terminate()
        self._pool = None
        self._opening = None

    async def _open(self) -> asyncpg.Pool:
        """The pool of the running event loop (asyncpg connections belong to one loop)."""
        loop = asyncio.get_running_loop()
        if self._opening is None or self._loop is not loop:
            if self._pool is not None:
                # Only test clients run one app on several loops; the old loop may be gone.
                self._pool.terminate()
                self._pool = None
            self._loop = loop
            # One task opens the pool; requests arriving meanwhile await the same task.
            self._opening = asyncio.ensure_future(
                asyncpg.create_pool(
                    self._dsn,
                    min_size=1,
                    max_size=self._pool_size,
                    # The reader only runs single SELECTs outside transactions and leaves
                    # no session state behind, so the per-release reset round trip is skipped.
                    reset=_leave_as_is,
                    init=_json_codecs,
                )
            )
        try:
            self._pool = await self._opening
        except BaseException:
            # A pool that failed to open (the server was down) is opened afresh next time.
            self._opening = None
            raise
        return self._pool

    def compile(self, statement: ClauseElement, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The statement's SQL and its positional arguments: ``params`` by name, and the values
        the statement carries itself (literals in its expressions) for the rest."""
        known = self._compiled.get(statement)
        if known is None:
            compiled = statement.compile(dialect=self._dialect)
            assert isinstance(compiled, SQLCompiler)
            carried = {
                name: bind.effective_value
                for name, bind in compiled.binds.items()
                if not bind.required
            }
            known = (str(compiled), tuple(compiled.positiontup or ()), carried)
            self._compiled[statement] = known
        sql, names, carried = known
        return sql, [params[name] if name in params else carried[name] for name in names]


async def _leave_as_is(_connection: asyncpg.Connection) -> None:
    return None


async def _json_codecs(connection: asyncpg.Connection) -> None:
    # JSON columns take and give Python values, as they do through SQLAlchemy.
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=dumps_json, decoder=loads_json, schema="pg_catalog"
        )


class InPlaceReader:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def one(self, statement: AnySelect, params: Mapping[str, Any]) -> Row | None:
        with self._engine.connect() as connection:
            row = connection.execute(statement, dict(params)).mappings().one_or_none()
        return None if row is None else dict(row)

    async def lookup(self, keyed: Keyed, params: Mapping[str, Any]) -> Row | None:
        # SQLite reads in place, in microseconds: nothing to share between requests.
        return await self.one(keyed.one, params)

    async def close(self) -> None:
        return None
