"""Engine and session factory for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, Executable, Result, create_engine, event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from telehealth.db.base import dumps_json, loads_json


def make_engine(url: str, **kwargs: Any) -> Engine:
    # A failing statement's parameters are PHI; SQLAlchemy would put them in its exception
    # message, which reaches logs.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=dumps_json,
            json_deserializer=loads_json,
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    # A pooled connection is pinged as it is checked out: after the server restarted, every
    # idle connection is dead, and without the ping each would fail one request (503) before
    # the pool noticed. The ping costs a round trip per checkout, a small part of a request.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_size=10,
        max_overflow=10,
        json_serializer=dumps_json,
        json_deserializer=loads_json,
        **kwargs,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 opens transactions lazily; take control so BEGIN is explicit.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL makes every commit durable in WAL mode; an acknowledged audit row must survive a crash.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of failing
    # with "database is locked" when both try to upgrade a read transaction. Autocommit
    # connections only read, one statement at a time, and must not take the lock.
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE")


WROTE = "telehealth.wrote"


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
    event.listen(factory, "after_flush", _mark_flush)
    event.listen(factory, "do_orm_execute", _mark_statement)
    return factory


def read_columns(
    session: Session, statement: Executable, params: Mapping[str, Any]
) -> Result[*tuple[Any, ...]]:
    """Runs a Core read on the session's connection, without the ORM's execution and loading
    (about half the cost of the same statement through the ORM), after writing the session's
    pending changes as the ORM's autoflush would (a no-op when there are none)."""
    session.flush()
    return session.connection().execute(statement, params)


def wrote(session: Session) -> bool:
    """Whether the session has written, or holds changes it will write when it commits."""
    return bool(session.info.get(WROTE) or session.new or session.dirty or session.deleted)


def _mark_flush(session: Session, _context: Any) -> None:
    session.info[WROTE] = True


def _mark_statement(state: ORMExecuteState) -> None:
    # Anything that is not a SELECT (textual SQL included) counts as a write.
    if not state.is_select:
        state.session.info[WROTE] = True
