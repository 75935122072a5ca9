"""Single statements for the hottest request paths, without the ORM or a worker thread.

Statements are written with SQLAlchemy in the capabilities' repositories, like every other
query, and compiled once per dialect. On PostgreSQL they run on the event loop through an
asyncpg pool; on SQLite (the embedded mode) reads run in place on an autocommit connection,
which in WAL mode reads a snapshot without waiting for writers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, Protocol

import asyncpg
from sqlalchemy import Engine, Select
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from telehealth.db.base import dumps_json

Row = Mapping[str, Any]
# Any SELECT, whatever its columns.
AnySelect = Select[*tuple[Any, ...]]


class FastReader(Protocol):
    async def one(self, statement: AnySelect, params: Mapping[str, Any]) -> Row | None: ...

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

    async def one(self, statement: AnySelect, params: Mapping[str, Any]) -> Row | None:
        sql, args = self.compile(statement, params)
        async with (await self._current_pool()).acquire() as connection:
            record = await connection.fetchrow(sql, *args)
        return None if record is None else dict(record.items())

    async def execute(self, statement: ClauseElement, params: Mapping[str, Any]) -> int:
        """Runs one statement as its own (durable) transaction; returns the rows it changed."""
        sql, args = self.compile(statement, params)
        async with (await self._current_pool()).acquire() as connection:
            status = await connection.execute(sql, *args)
        return int(status.rsplit(" ", 1)[-1])

    async def _current_pool(self) -> asyncpg.Pool:
        pool = self._pool
        if pool is None or self._loop is not asyncio.get_running_loop():
            pool = await self._open()
        return pool

    async def close(self) -> None:
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
        self._pool = await self._opening
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
            name, encoder=dumps_json, decoder=json.loads, schema="pg_catalog"
        )


class InPlaceReader:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def one(self, statement: AnySelect, params: Mapping[str, Any]) -> Row | None:
        with self._engine.connect() as connection:
            row = connection.execute(statement, dict(params)).mappings().one_or_none()
        return None if row is None else dict(row)

    async def close(self) -> None:
        return None
