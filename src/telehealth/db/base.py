"""Declarative base and column types shared by every capability's tables."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import DateTime, Insert, MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


K = TypeVar("K")
V = TypeVar("V")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes; refuses naive ones; returns aware ones on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class RawJSON(str):
    """A JSON document serialized already (by pydantic, say), stored as it is in JSON columns
    rather than serialized a second time."""


def dumps_json(value: Any) -> str:
    """The JSON serializer of every database connection (see :class:`RawJSON`)."""
    return value if isinstance(value, RawJSON) else json.dumps(value)


def loads_json(text: str | bytes) -> Any:
    """The JSON parser of every database connection: pages load stored documents (a decision
    is about 8 KB) on every view, and orjson parses them several times faster."""
    return orjson.loads(text)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """The table a mapped class is stored in, for Core statements on its columns."""
    return cast(Table, model.__table__)


def insert_ignoring_duplicates(session: Session, model: type[Base], keys: list[str]) -> Insert:
    """An INSERT of ``model`` rows that skips any row whose unique ``keys`` are taken already
    (the database decides, on both backends, so concurrent writers never fail on it)."""
    table = table_of(model)
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)


def grouped(pairs: Iterable[tuple[K, V]]) -> dict[K, list[V]]:
    """Values by key, in the order they come: a query for many parents answered per parent."""
    found: dict[K, list[V]] = {}
    for key, value in pairs:
        found.setdefault(key, []).append(value)
    return found


def new_id() -> uuid.UUID:
    """Random (v4) identifiers: 122 bits of randomness, so ids reveal neither order nor count."""
    return uuid.uuid4()
