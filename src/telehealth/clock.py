"""Time in aware UTC, behind a port so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told to: the test twin of :class:`SystemClock`."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, moment: datetime) -> None:
        self._now = moment.astimezone(UTC)


def ensure_utc(moment: datetime) -> datetime:
    """Normalise a datetime read back from a database that drops the zone (SQLite)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def stamp(at: datetime, *, seconds: bool = False) -> str:
    """``at`` as ``%Y-%m-%d %H:%M`` (``:%S`` with ``seconds``), read from its fields: a quarter
    of strftime's cost, for tables that format a time on each of hundreds of rows."""
    if seconds:
        return "%04d-%02d-%02d %02d:%02d:%02d" % (  # noqa: UP031
            at.year,
            at.month,
            at.day,
            at.hour,
            at.minute,
            at.second,
        )
    return "%04d-%02d-%02d %02d:%02d" % (at.year, at.month, at.day, at.hour, at.minute)  # noqa: UP031
