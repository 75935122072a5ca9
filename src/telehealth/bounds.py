"""The range of every date, datetime, month and count the API accepts: one definition that
every schema and route uses (routes put these types on query parameters as they are).

Without bounds a far-future date is stored and later overflows ``date + timedelta`` on pages
every coordinator opens, and a 20-digit integer overflows the database driver. Dates before
1900 or after 2200 have no clinical or billing meaning here. Only pydantic: pure cores (the
FHIR parser) use these types too.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from annotated_types import Interval
from pydantic import AfterValidator, AwareDatetime, StringConstraints, WithJsonSchema

MIN_DAY = date(1900, 1, 1)
MAX_DAY = date(2200, 12, 31)
# Deeper pages are refused: lists are for people, exports have their own routes.
MAX_OFFSET = 100_000
# Row versions and other counters, stored in 32-bit columns.
MAX_COUNTER = 2**31 - 1

# JSON Schema has no bounds for dates; the year's pattern tells clients (and the fuzzer).
_YEARS = r"^(19\d\d|2[01]\d\d|2200)-"


def _on_a_day_in_range(moment: datetime) -> datetime:
    # The date as written, before any conversion: the year the client sent is what the
    # pattern promises, and converting first could overflow (year 1 at +14:00).
    if not MIN_DAY <= moment.date() <= MAX_DAY:
        raise ValueError(f"should be between {MIN_DAY} and {MAX_DAY}")
    return moment


Day = Annotated[
    date,
    Interval(ge=MIN_DAY, le=MAX_DAY),
    WithJsonSchema({"type": "string", "format": "date", "pattern": _YEARS}),
]
# A naive datetime is refused (422): its zone would be a guess.
Moment = Annotated[
    AwareDatetime,
    AfterValidator(_on_a_day_in_range),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": _YEARS}),
]
Version = Annotated[int, Interval(ge=1, le=MAX_COUNTER)]
Offset = Annotated[int, Interval(ge=0, le=MAX_OFFSET)]
# A calendar month, ``YYYY-MM``, within the years above.
Month = Annotated[str, StringConstraints(pattern=_YEARS + r"(0[1-9]|1[0-2])$")]


def limit(maximum: int) -> Interval:
    """Bounds of a page size: at least 1, at most ``maximum``."""
    return Interval(ge=1, le=maximum)


def parse_month(month: str) -> tuple[int, int]:
    """A :data:`Month` as (year, month)."""
    year, number = month.split("-")
    return int(year), int(number)
