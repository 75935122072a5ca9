"""Queries over the audit tables."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Select,
    Table,
    TextClause,
    bindparam,
    exists,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from telehealth.audit.model import (
    GENESIS_HASH,
    ROW_FIELDS,
    AuditEvent,
    ChainedRecord,
    ChainKey,
    ShownEvent,
    chain,
    record_from_row,
    row_values,
)
from telehealth.audit.tables import AuditHead, AuditRow
from telehealth.db.base import RawJSON, dumps_json, table_of
from telehealth.db.engine import read_columns

_ROWS = table_of(AuditRow)
_HEADS = table_of(AuditHead)


def append(
    session: Session | Connection, chain_id: int, events: Sequence[AuditEvent], key: ChainKey
) -> list[ChainedRecord]:
    """Append events to one chain inside the caller's transaction.

    The chain's head row is locked (FOR UPDATE on PostgreSQL; SQLite already holds the write
    lock from BEGIN IMMEDIATE), so transactions on the same chain extend it one after another.
    Rows go in as one multi-row statement: this runs once per request or per group commit.
    """
    if not events:
        return []
    head = session.execute(_LOCK_HEAD, {"chain": chain_id}).one_or_none()
    if head is None:
        session.execute(_NEW_HEAD, {"id": chain_id, "seq": 0, "hash": GENESIS_HASH})
        seq, prev_hash = 0, GENESIS_HASH
    else:
        seq, prev_hash = head
    records = chain(chain_id, seq, prev_hash, events, key)
    session.execute(_INSERT_ROWS, [row_values(record) for record in records])
    session.execute(
        _MOVE_HEAD_TO, {"chain": chain_id, "seq": records[-1].seq, "hash": records[-1].hash}
    )
    return records


# Built once: constructing a statement costs more than running it on SQLite.
HEAD_OF = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == bindparam("chain"))
_LOCK_HEAD = HEAD_OF.with_for_update()
_NEW_HEAD = insert(_HEADS)
_INSERT_ROWS = insert(_ROWS)
_MOVE_HEAD_TO = (
    update(_HEADS)
    .where(_HEADS.c.id == bindparam("chain"))
    .values(seq=bindparam("seq"), hash=bindparam("hash"))
)


def to_record(row: AuditRow) -> ChainedRecord:
    return record_from_row({name: getattr(row, name) for name in ROW_FIELDS})


def iter_chain(
    session: Session,
    chain_id: int,
    after: int = 0,
    upto: int | None = None,
    batch: int = 1000,
) -> Generator[ChainedRecord]:
    """A chain's rows in order: those after sequence ``after``, up to ``upto`` if given."""
    query = select(AuditRow).where(AuditRow.chain == chain_id, AuditRow.seq > after)
    if upto is not None:
        query = query.where(AuditRow.seq <= upto)
    result = session.execute(query.order_by(AuditRow.seq).execution_options(yield_per=batch))
    try:
        for row in result.scalars():
            yield to_record(row)
    finally:
        # A verifier that stops at the first break must not leave a server-side cursor open.
        result.close()


def hash_at(session: Session, chain_id: int, seq: int) -> str | None:
    row = session.execute(
        select(AuditRow.hash).where(AuditRow.chain == chain_id, AuditRow.seq == seq)
    ).scalar()
    return None if row is None else str(row)


def unkeyed_between(session: Session, chain_id: int, after: int, upto: int) -> bool:
    """Whether any row with a sequence number in (``after``, ``upto``] is unkeyed."""
    return bool(
        session.execute(
            select(
                exists().where(
                    AuditRow.chain == chain_id,
                    AuditRow.seq > after,
                    AuditRow.seq <= upto,
                    AuditRow.key_id.is_(None),
                )
            )
        ).scalar()
    )


def heads(session: Session) -> dict[int, tuple[int, str]]:
    return {h.id: (h.seq, h.hash) for h in session.execute(select(AuditHead)).scalars()}


def chains_in_rows(session: Session) -> set[int]:
    return set(session.execute(select(AuditRow.chain).distinct()).scalars())


@dataclass(frozen=True)
class AuditFilter:
    """Which of an organization's events a search lists (newest first, at most ``limit``)."""

    org_id: uuid.UUID
    patient_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100

    def params(self) -> tuple[tuple[str, ...], dict[str, object]]:
        """The filters given (which pick the statement) and every bound parameter."""
        given = {
            "patient_id": self.patient_id,
            "actor_id": self.actor_id,
            "action": self.action,
            "since": self.since,
            "until": self.until,
        }
        filters = {name: value for name, value in given.items() if value is not None}
        return tuple(filters), {**filters, "org_id": self.org_id, "limit": self.limit}


def search(session: Session, wanted: AuditFilter) -> list[AuditRow]:
    """An organization's events, newest first, optionally filtered."""
    filters, params = wanted.params()
    return list(session.execute(_search_statement(False, filters), params).scalars())


def search_shown(session: Session, wanted: AuditFilter) -> list[ShownEvent]:
    """The events :func:`search` finds, only the columns the audit-log page shows (no ORM
    rows, no chain columns)."""
    filters, params = wanted.params()
    rows = read_columns(session, _search_statement(True, filters), params)
    return [ShownEvent(*row) for row in rows]


_SHOWN = (
    _ROWS.c.at,
    _ROWS.c.action,
    _ROWS.c.outcome,
    _ROWS.c.object_type,
    _ROWS.c.object_id,
    _ROWS.c.actor_id,
    _ROWS.c.actor_role,
    _ROWS.c.patient_id,
    _ROWS.c.detail,
)


@functools.cache
def _search_statement(shown: bool, filters: tuple[str, ...]) -> Select[Any]:
    """The search statement for one set of filters, with bound parameters (built once per set:
    building a statement and its cache key costs more than running it). The shown columns'
    statement is on the table (Core); the full rows' on the mapped class (ORM rows)."""
    query: Select[Any] = select(*_SHOWN) if shown else select(AuditRow)
    query = query.where(_ROWS.c.org_id == bindparam("org_id"))
    conditions = {
        "patient_id": _ROWS.c.patient_id == bindparam("patient_id"),
        "actor_id": _ROWS.c.actor_id == bindparam("actor_id"),
        "action": _ROWS.c.action == bindparam("action"),
        "since": _ROWS.c.at >= bindparam("since"),
        "until": _ROWS.c.at < bindparam("until"),
    }
    for name in filters:
        query = query.where(conditions[name])
    ordered = query.order_by(_ROWS.c.at.desc(), _ROWS.c.chain.desc(), _ROWS.c.seq.desc())
    return ordered.limit(bindparam("limit"))


def head_from(row: Mapping[str, Any] | None) -> tuple[int, str]:
    return (0, GENESIS_HASH) if row is None else (row["seq"], row["hash"])


# One statement moves the head from the state the rows were chained on and inserts the rows
# (and any rows the batch carries for other tables), or does nothing at all if another writer
# moved the head first. The UPDATE locks the head row, so a concurrent writer waits, then
# finds the head moved. As a single statement in autocommit mode it is one round trip and one
# durable commit for a whole batch. The audit rows travel as one JSON array: encoding it is
# several times cheaper for the driver than a typed array per column. The casts of the
# carried rows' arrays give each a type even when all its values are NULL.
_MOVE_HEAD = """moved AS (
        UPDATE audit_head SET seq = :new_seq, hash = :new_hash
        WHERE id = :chain AND seq = :old_seq AND hash = :old_hash
        RETURNING id
    )"""

_POSTGRESQL = postgresql.dialect()  # type: ignore[no-untyped-call]


def _insert_audit_rows() -> str:
    """The statement's final part: the audit rows, read from the JSON array as the columns
    of ``audit_events`` they are (the chain is one parameter for the whole batch)."""
    columns = [_ROWS.c[name] for name in ROW_FIELDS if name != "chain"]
    records = ", ".join(f"{c.name} {c.type.compile(dialect=_POSTGRESQL)}" for c in columns)
    # Names and types come from table metadata, never from input.
    return f"""
    INSERT INTO {_ROWS.name} ({", ".join(ROW_FIELDS)})
    SELECT :chain, {", ".join(f"r.{c.name}" for c in columns)}
    FROM json_to_recordset(CAST(:rows AS json)) AS r({records})
    WHERE EXISTS (SELECT 1 FROM moved)
"""  # noqa: S608


_INSERT_AUDIT_ROWS = _insert_audit_rows()


@functools.cache
def _append_statement(tables: tuple[Table, ...]) -> TextClause:
    """The append statement for a batch that also carries rows for ``tables`` (built once per
    combination of tables)."""
    ctes = [_MOVE_HEAD]
    for index, table in enumerate(tables):
        names = ", ".join(column.name for column in table.columns)
        arrays = ", ".join(_array(f"t{index}_{column.name}", column) for column in table.columns)
        # Names and types come from table metadata, never from input.
        insert_rows = f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608
        ctes.append(f"carried_{index} AS ({insert_rows} WHERE EXISTS (SELECT 1 FROM moved))")  # noqa: S608
    return text("WITH " + ",\n    ".join(ctes) + _INSERT_AUDIT_ROWS)


def _array(name: str, column: Column[Any]) -> str:
    if isinstance(column.type, JSON):
        # JSON values travel as their text, serialized once.
        return f"CAST(CAST(:{name} AS text[]) AS json[])"
    return f"CAST(:{name} AS {column.type.compile(dialect=_POSTGRESQL)}[])"


def append_if_head_statement(
    chain_id: int,
    records: Sequence[ChainedRecord],
    carried: Mapping[Table, Sequence[Mapping[str, Any]]],
) -> tuple[TextClause, dict[str, object]]:
    """PostgreSQL: the statement appending ``records``, chained on the head they name (the
    first one's previous hash), and inserting the ``carried`` rows, if that is still the
    head. It changes no row otherwise, so the caller compares the audit rows it inserted with
    ``len(records)``."""
    first, last = records[0], records[-1]
    params: dict[str, object] = {
        "chain": chain_id,
        "old_seq": first.seq - 1,
        "old_hash": first.prev_hash,
        "new_seq": last.seq,
        "new_hash": last.hash,
        # orjson writes datetimes as RFC 3339 with their offset; ``default=str`` writes the
        # ids read through asyncpg, which have a UUID type of their own.
        "rows": RawJSON(
            orjson.dumps([row_values(record) for record in records], default=str).decode()
        ),
    }
    tables = tuple(carried)
    for index, table in enumerate(tables):
        rows = carried[table]
        for column in table.columns:
            as_json = isinstance(column.type, JSON)
            params[f"t{index}_{column.name}"] = [
                dumps_json(row[column.key]) if as_json else row[column.key] for row in rows
            ]
    return _append_statement(tables), params
