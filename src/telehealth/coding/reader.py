"""Streaming reader for claim lines (CSV with a header, or JSON lines), one claim at a time.

The reader never holds more than the current line. Any line it cannot turn into a claim
raises ``DomainError(INVALID_INPUT)`` whose message starts with ``line N:``; callers decide
whether that ends the run (the CLI exits 2).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from operator import itemgetter
from typing import Any, Literal, NamedTuple

from telehealth.errors import DomainError, ErrorCode
from telehealth.vocabulary import BILLING_SETTINGS, MODALITIES, PAYERS

Format = Literal["csv", "jsonl"]
REQUIRED_COLUMNS = (
    "claim_id",
    "date_of_service",
    "payer",
    "code",
    "modifiers",
    "pos",
    "patient_state",
    "modality",
    "alaska_hawaii_demo",
)
OPTIONAL_COLUMNS = (
    "data_days",
    "minutes",
    "interactive_communication",
    "patient_id",
    "period",
    "new_patient",
    "billing_setting",
    "section_1135_waiver",
)
_BILLING_SETTINGS = frozenset(BILLING_SETTINGS)
_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
_PAYERS = frozenset(PAYERS)
_MODALITIES = frozenset(MODALITIES)
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f", ""})


class Claim(NamedTuple):
    line: int
    claim_id: str
    date_of_service: date
    payer: str
    code: str
    modifiers: frozenset[str]
    pos: str | None
    patient_state: str
    modality: str | None
    alaska_hawaii_demo: bool
    data_days: int | None = None
    minutes: int | None = None
    interactive_communication: bool | None = None
    # Coded facts added after the first contract (absent column = unknown). The coded
    # fields payer..section_1135_waiver stay contiguous: the auditor memoises on that slice.
    new_patient: bool | None = None
    billing_setting: str | None = None
    # Whether the claim declares an active SSA §1135 emergency waiver (modifier CR).
    section_1135_waiver: bool | None = None
    patient_id: str | None = None
    period: str | None = None


def _bad(line: int, message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, f"line {line}: {message}", line=line)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def _flag(value: str, column: str, line: int) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _bad(line, f"{column} {value!r} is not true or false")


def _count(value: str, column: str, line: int) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise _bad(line, f"{column} {value!r} is not a whole number")
    return int(value)


def _optional_flag(value: str, column: str, line: int) -> bool | None:
    return _flag(value, column, line) if value else None


def _billing_setting(value: str, line: int) -> str | None:
    setting = value.strip().lower()
    if not setting:
        return None
    if setting not in _BILLING_SETTINGS:
        raise _bad(line, f"billing_setting {value!r} is not one of {', '.join(BILLING_SETTINGS)}")
    return setting


def _pos(value: str) -> str | None:
    if not value:
        return None
    # Spreadsheets drop the leading zero of POS 02.
    return value.zfill(2) if value.isdigit() else value


def claim_from_values(values: Sequence[str], line: int) -> Claim:
    """Build a claim from column values in ``_COLUMNS`` order ("" = absent)."""
    (claim_id, dos, payer, code, modifiers, pos, state, modality, demo) = values[:9]
    payer = payer.strip().lower()
    code = code.strip().upper()
    modality = modality.strip()
    if not claim_id:
        raise _bad(line, "claim_id is empty")
    try:
        service_date = date.fromisoformat(dos)
    except ValueError:
        raise _bad(line, f"date_of_service {dos!r} is not a date (YYYY-MM-DD)") from None
    if payer not in _PAYERS:
        raise _bad(line, f"payer {payer!r} is not one of {', '.join(PAYERS)}")
    if not code:
        raise _bad(line, "code is empty")
    if modality and modality not in _MODALITIES:
        raise _bad(line, f"modality {modality!r} is not a known modality")
    return Claim(
        line,
        claim_id,
        service_date,
        payer,
        code,
        frozenset(modifiers.upper().split()),
        _pos(pos.strip()),
        state.strip().upper(),
        modality or None,
        _flag(demo.strip(), "alaska_hawaii_demo", line),
        _count(values[9], "data_days", line),
        _count(values[10], "minutes", line),
        _optional_flag(values[11], "interactive_communication", line),
        _optional_flag(values[14], "new_patient", line),
        _billing_setting(values[15], line),
        _optional_flag(values[16], "section_1135_waiver", line),
        values[12] or None,
        values[13] or None,
    )


def claim_from_mapping(mapping: dict[str, Any], line: int) -> Claim:
    """A claim from a mapping of column name to value (JSON lines, test cases)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in mapping]
    if missing:
        raise _bad(line, f"missing field(s): {', '.join(missing)}")
    return claim_from_values([_text(mapping.get(c)) for c in _COLUMNS], line)


def _csv_claims(lines: Iterable[str]) -> Iterator[Claim]:
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise _bad(1, f"unreadable CSV header ({exc})") from None
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise _bad(reader.line_num, f"CSV header lacks column(s): {', '.join(missing)}")
    # Position of each known column in the file, or None; unknown extra columns are ignored.
    where = [names.index(c) if c in names else None for c in _COLUMNS]
    width = len(names)
    # Absent optional columns read an empty cell appended past the end of each row.
    pick = itemgetter(*(width if i is None else i for i in where))
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _bad(reader.line_num, f"unreadable CSV ({exc})") from None
        if not row:
            continue
        if len(row) != width:
            raise _bad(reader.line_num, f"expected {width} fields, found {len(row)}")
        row.append("")
        yield claim_from_values(pick(row), reader.line_num)


def _jsonl_claims(lines: Iterable[str]) -> Iterator[Claim]:
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise _bad(number, f"not valid JSON ({exc.args[0].split(':')[0]})") from None
        if not isinstance(record, dict):
            raise _bad(number, "expected a JSON object")
        yield claim_from_mapping(record, number)


def detect_format(name: str, first_line: str) -> Format:
    """By extension first; otherwise a line that opens a JSON object means JSON lines."""
    lowered = name.lower()
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith(".csv"):
        return "csv"
    return "jsonl" if first_line.lstrip().startswith("{") else "csv"


def read_claims(source: Iterable[str], name: str = "-") -> Iterator[Claim]:
    """Stream claims from lines of text (a file opened with ``newline=""``, or any iterable)."""
    remaining = iter(source)
    first = next(remaining, "")
    if not first:
        return iter(())

    def lines() -> Iterator[str]:
        yield first
        yield from remaining

    if detect_format(name, first) == "jsonl":
        return _jsonl_claims(lines())
    return _csv_claims(lines())
