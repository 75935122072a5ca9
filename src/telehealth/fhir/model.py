"""FHIR R4 search and bundle vocabulary (pure).

What every resource type shares: search parameters parsed from a query (``_count``, ``_offset``,
``_sort``, ``_include``, dates with prefixes, tokens, references), the searchset Bundle with its
paging links, ``meta`` and instants. Resource types build their resources from the platform's
records in their own modules (:mod:`telehealth.fhir.catalog` lists them).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlencode

from telehealth.errors import DomainError, ErrorCode, not_found

FHIR_JSON = "application/fhir+json"
FHIR_VERSION = "4.0.1"
DEFAULT_COUNT = 50
MAX_COUNT = 200
IDENTIFIER_SYSTEM = "urn:telehealth"

Resource = dict[str, Any]


def instant(moment: datetime) -> str:
    """An aware moment as a FHIR instant (UTC, seconds or finer, ``Z``)."""
    if moment.tzinfo is None:
        raise ValueError("FHIR instants are aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def meta(version: int, last_updated: datetime, profiles: Sequence[str] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"versionId": str(version), "lastUpdated": instant(last_updated)}
    if profiles:
        out["profile"] = list(profiles)
    return out


def reference(resource_type: str, resource_id: object, display: str | None = None) -> Resource:
    out: Resource = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        out["display"] = display
    return out


def identifier(kind: str, value: str) -> Resource:
    """One of the platform's identifiers (``urn:telehealth:<kind>``)."""
    return {"system": f"{IDENTIFIER_SYSTEM}:{kind}", "value": value}


def invalid(detail: str, name: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, detail, field=name)


def resource_id(value: str, missing: str = "resource") -> uuid.UUID:
    """An id of this server (a UUID); anything else names nothing: the not-found error of
    ``missing``, as for a missing one."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise not_found(missing) from None


# --- search parameters ---------------------------------------------------------------------


class Prefix(StrEnum):
    EQ = "eq"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    SA = "sa"
    EB = "eb"


@dataclass(frozen=True, slots=True)
class DateRange:
    """A date search value as the half-open range of moments it admits: ``start <= t < end``
    (either side open when None)."""

    start: datetime | None
    end: datetime | None

    def admits(self, moment: datetime) -> bool:
        if self.start is not None and moment < self.start:
            return False
        return self.end is None or moment < self.end


def parse_date(value: str, name: str = "date") -> DateRange:
    """A ``date`` parameter (``ge2026-01-01``, ``2026-03``, ``lt2026-03-01T10:00:00Z``) as the
    range it admits. A value's precision is its range: ``2026-03`` is all of March (UTC);
    ``ne`` and approximate matching are not supported."""
    prefix = Prefix.EQ
    if len(value) > 2 and value[:2].isalpha():
        try:
            prefix = Prefix(value[:2])
        except ValueError:
            raise invalid(f"unsupported date prefix in {name}", name) from None
        value = value[2:]
    low, high = _precision_range(value, name)
    match prefix:
        case Prefix.EQ:
            return DateRange(low, high)
        case Prefix.LT | Prefix.EB:
            return DateRange(None, low)
        case Prefix.LE:
            return DateRange(None, high)
        case Prefix.GT | Prefix.SA:
            return DateRange(high, None)
        case Prefix.GE:
            return DateRange(low, None)


def _precision_range(value: str, name: str) -> tuple[datetime, datetime]:
    try:
        if len(value) == 4:
            year = int(value)
            return _utc(year, 1, 1), _utc(year + 1, 1, 1)
        if len(value) == 7:
            year, month = int(value[:4]), int(value[5:7])
            after = _utc(year + month // 12, month % 12 + 1, 1)
            return _utc(year, month, 1), after
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = _utc(day.year, day.month, day.day)
            return start, start + timedelta(days=1)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"{name} is not a FHIR date, dateTime or instant", name) from None
    if moment.tzinfo is None:
        raise invalid(f"{name} needs a time zone when it gives a time", name)
    moment = moment.astimezone(UTC)
    step = timedelta(microseconds=1) if moment.microsecond else timedelta(seconds=1)
    return moment, moment + step


def _utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def overlapping(ranges: Sequence[DateRange]) -> DateRange:
    """Several date parameters combined (AND): the range all of them admit."""
    starts = [r.start for r in ranges if r.start is not None]
    ends = [r.end for r in ranges if r.end is not None]
    return DateRange(max(starts) if starts else None, min(ends) if ends else None)


@dataclass(frozen=True, slots=True)
class Token:
    """A token parameter: ``system|code``, ``code`` (any system), ``|code`` (no system) or
    ``system|`` (any code of the system)."""

    system: str | None
    code: str | None

    def matches(self, system: str | None, code: str | None) -> bool:
        if self.system is not None and (self.system or None) != system:
            return False
        return self.code is None or self.code == code


def parse_token(value: str) -> Token:
    if "|" not in value:
        return Token(None, value)
    system, _, code = value.partition("|")
    return Token(system, code or None)


def parse_reference(value: str, resource_type: str, name: str) -> uuid.UUID | None:
    """A reference parameter (``Patient/<id>``, ``<id>`` or an absolute URL ending so) as the
    id it names; None when it names another type or no id of this server, which nothing
    matches."""
    tail = value.rstrip("/").split("/")
    if resource_type and len(tail) >= 2 and tail[-2] != resource_type:
        return None
    try:
        return uuid.UUID(tail[-1])
    except ValueError:
        return None


class Handling(StrEnum):
    STRICT = "strict"
    LENIENT = "lenient"


def handling(prefer: str | None) -> Handling:
    """``Prefer: handling=strict`` refuses unknown search parameters; lenient (the default)
    ignores them and leaves them out of the Bundle's self link."""
    for part in (prefer or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == "handling" and value.strip() == Handling.STRICT:
            return Handling.STRICT
    return Handling.LENIENT


# Parameters every search understands, handled here rather than by the resource types.
CONTROL = frozenset({"_count", "_offset", "_sort", "_include", "_total", "_format"})


@dataclass(frozen=True)
class Search:
    """One search: the parameters a resource type supports, with the paging controls."""

    params: Mapping[str, Sequence[str]]
    count: int = DEFAULT_COUNT
    offset: int = 0
    sort: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    ignored: tuple[str, ...] = field(default=())

    def values(self, name: str) -> list[str]:
        """Every value of ``name``: repeated parameters are AND, commas inside one are OR;
        flattened here for parameters whose types combine them the same way."""
        out: list[str] = []
        for raw in self.params.get(name, ()):
            out.extend(v for v in raw.split(",") if v)
        return out

    def one(self, name: str) -> str | None:
        found = self.values(name)
        if len(found) > 1:
            raise invalid(f"{name} takes one value here", name)
        return found[0] if found else None

    def dates(self, name: str) -> DateRange | None:
        raw = [v for v in self.params.get(name, ()) if v]
        if not raw:
            return None
        return overlapping([parse_date(v, name) for v in raw])

    def tokens(self, name: str) -> list[Token]:
        return [parse_token(v) for v in self.values(name)]

    def references(self, name: str, resource_type: str) -> list[uuid.UUID | None]:
        return [parse_reference(v, resource_type, name) for v in self.values(name)]

    def ids(self) -> list[uuid.UUID | None] | None:
        """``_id`` values (None where a value is no id of this server); None without ``_id``."""
        if "_id" not in self.params:
            return None
        return [parse_reference(v, "", "_id") for v in self.values("_id")]


def parse_search(
    query: Sequence[tuple[str, str]],
    supported: frozenset[str],
    sorts: frozenset[str],
    includes: frozenset[str],
    mode: Handling,
) -> Search:
    """A query string's parameters as a :class:`Search`. Unknown parameters (and modifiers
    this server does not support) are refused under strict handling and ignored otherwise."""
    params: dict[str, list[str]] = {}
    ignored: list[str] = []
    count, offset = DEFAULT_COUNT, 0
    sort: tuple[str, ...] = ()
    include: list[str] = []
    for name, value in query:
        if name == "_count":
            count = _bounded_int(value, name, 0, MAX_COUNT)
        elif name == "_offset":
            offset = _bounded_int(value, name, 0, 10_000_000)
        elif name == "_sort":
            sort = tuple(v for v in value.split(",") if v)
            unknown = [s for s in sort if s.lstrip("-") not in sorts]
            if unknown:
                raise invalid("_sort names a parameter this resource is not sorted by", "_sort")
        elif name == "_include":
            if value not in includes:
                if mode is Handling.STRICT:
                    raise invalid("_include names an include this server does not support", name)
                ignored.append(name)
                continue
            include.append(value)
        elif name in ("_total", "_format"):
            continue
        elif name in supported:
            params.setdefault(name, []).append(value)
        elif mode is Handling.STRICT:
            raise invalid(f"unsupported search parameter: {name}", name)
        else:
            ignored.append(name)
    return Search(params, count, offset, sort, tuple(include), tuple(ignored))


def _bounded_int(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise invalid(f"{name} must be a whole number", name) from None
    if not low <= number <= high:
        raise invalid(f"{name} must be between {low} and {high}", name)
    return number


# --- bundles ----------------------------------------------------------------------------------


def search_link(base: str, resource_type: str, search: Search, offset: int) -> str:
    """A link to a page of the same search, with only the parameters the search used."""
    pairs: list[tuple[str, str]] = [(n, v) for n, vs in search.params.items() for v in vs]
    pairs += [("_include", v) for v in search.include]
    if search.sort:
        pairs.append(("_sort", ",".join(search.sort)))
    pairs += [("_count", str(search.count)), ("_offset", str(offset))]
    return f"{base}/{resource_type}?{urlencode(pairs)}"


def searchset(
    base: str,
    resource_type: str,
    search: Search,
    matches: Sequence[Resource],
    included: Sequence[Resource],
    total: int | None,
    more: bool,
) -> Resource:
    """A searchset Bundle of one page: ``self``, and ``next``/``previous`` where there are."""
    links = [{"relation": "self", "url": search_link(base, resource_type, search, search.offset)}]
    if more:
        after = search.offset + search.count
        links.append({"relation": "next", "url": search_link(base, resource_type, search, after)})
    if search.offset > 0:
        before = max(0, search.offset - search.count)
        links.append(
            {"relation": "previous", "url": search_link(base, resource_type, search, before)}
        )
    entries = [_entry(base, r, "match") for r in matches]
    entries += [_entry(base, r, "include") for r in included]
    bundle: Resource = {"resourceType": "Bundle", "type": "searchset", "link": links}
    if total is not None:
        bundle["total"] = total
    bundle["entry"] = entries
    return bundle


def _entry(base: str, resource: Resource, mode: str) -> Resource:
    return {
        "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def etag(resource: Resource) -> str:
    return f'W/"{resource.get("meta", {}).get("versionId", "1")}"'


def named_ids(query: Search, name: str, resource_type: str = "") -> list[uuid.UUID] | None:
    """The ids ``_id`` or a reference parameter names, leaving out values that name nothing of
    this server: None without the parameter, [] when no value names anything (which matches
    nothing)."""
    if name not in query.params:
        return None
    found = query.ids() if name == "_id" else query.references(name, resource_type)
    return [i for i in found or () if i is not None]


def date_bounds(query: Search, name: str) -> tuple[datetime | None, datetime | None]:
    """A date parameter's half-open range as ``(start, end)``; (None, None) without it."""
    found = query.dates(name)
    return (found.start, found.end) if found is not None else (None, None)


T = TypeVar("T")


def fetched_page(found: Sequence[T], query: Search) -> tuple[list[T], bool]:
    """What a fetch of ``query.count + 1`` rows from ``query.offset`` found: the page, and
    whether more follow."""
    return list(found[: query.count]), len(found) > query.count


def page_of(found: Sequence[T], query: Search) -> tuple[list[T], bool]:
    """The page ``query`` asks for of everything a search found, and whether more follow."""
    end = query.offset + query.count
    return list(found[query.offset : end]), len(found) > end


# Code systems several resource types use.
SPECIALTY_SYSTEM = f"{IDENTIFIER_SYSTEM}:specialty"
CPT = "http://www.ama-assn.org/go/cpt"
