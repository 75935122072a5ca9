"""Table-driven cases beside the policy files (``policies/coding/*.cases.yaml``).

A case gives either an ``encounter`` (run through the engine) or ``claims`` (run through the
auditor) and what to expect: the exact lines (on the keys given), the exact multiset of
findings, or an input ``error``. ``defaults.encounter`` / ``defaults.claim`` are merged
under every case of the file so each case states only what it is about.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from telehealth.coding.audit import audit_claims
from telehealth.coding.codeset import CodeSet
from telehealth.coding.encounter import Encounter
from telehealth.coding.engine import code_encounter
from telehealth.coding.loader import DEFAULT_POLICY_DIR, case_files
from telehealth.coding.reader import claim_from_mapping
from telehealth.errors import DomainError, ErrorCode


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expect(_Doc):
    lines: list[dict[str, Any]] | None = None
    findings: list[dict[str, str]] = []
    error: str | None = None


class CaseDoc(_Doc):
    id: str
    citation: str
    note: str | None = None
    encounter: dict[str, Any] | None = None
    claims: list[dict[str, Any]] | None = None
    expect: Expect


class CaseFile(_Doc):
    description: str | None = None
    defaults: dict[str, dict[str, Any]] = {}
    cases: list[CaseDoc]


class CaseResult(NamedTuple):
    file: str
    case_id: str
    passed: bool
    detail: str


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_case_file(path: Path) -> CaseFile:
    try:
        return CaseFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise DomainError(ErrorCode.CONFIGURATION, f"{path.name}: {exc}") from exc


def iter_cases(directory: Path | None = None) -> Iterator[tuple[Path, CaseFile, CaseDoc]]:
    for path in case_files(directory or DEFAULT_POLICY_DIR):
        case_file = load_case_file(path)
        for case in case_file.cases:
            yield path, case_file, case


def _project(items: list[dict[str, Any]], keys: tuple[str, ...]) -> list[tuple[str, ...]]:
    return sorted(tuple(str(item.get(k, "")) for k in keys) for item in items)


def _compare_lines(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> str:
    if len(expected) != len(actual):
        return f"expected {len(expected)} line(s), got {[a['code'] for a in actual]}"
    for want, got in zip(expected, actual, strict=True):
        differing = {k: (v, got.get(k)) for k, v in want.items() if got.get(k) != v}
        if differing:
            return f"line {got['code']}: expected vs actual {differing}"
    return ""


def _compare_findings(
    expected: list[dict[str, str]], actual: list[dict[str, Any]], keys: tuple[str, ...]
) -> str:
    want, got = _project(expected, keys), _project(actual, keys)
    return "" if want == got else f"findings: expected {want}, got {got}"


def _run_encounter(case: CaseDoc, defaults: Mapping[str, Any], codeset: CodeSet) -> str:
    raw = merge(defaults.get("encounter", {}), case.encounter or {})
    try:
        result = code_encounter(Encounter.model_validate(raw), codeset)
    except (ValidationError, DomainError) as exc:
        if case.expect.error is not None and case.expect.error in str(exc):
            return ""
        return f"unexpected input error: {exc}"
    if case.expect.error is not None:
        return f"expected an input error mentioning {case.expect.error!r}"
    lines = [line.model_dump() for line in result.lines]
    problems = []
    if case.expect.lines is not None:
        problems.append(_compare_lines(case.expect.lines, lines))
    findings = [f.model_dump() for f in result.findings]
    problems.append(_compare_findings(case.expect.findings, findings, ("rule", "severity")))
    return "; ".join(p for p in problems if p)


def _run_claims(case: CaseDoc, defaults: Mapping[str, Any], codeset: CodeSet) -> str:
    try:
        claims = [
            claim_from_mapping(merge(defaults.get("claim", {}), row), number)
            for number, row in enumerate(case.claims or [], start=2)
        ]
    except DomainError as exc:
        if case.expect.error is not None and case.expect.error in exc.message:
            return ""
        return f"unexpected input error: {exc.message}"
    hits, _ = audit_claims(claims, codeset)
    actual = [h.as_dict() for h in hits]
    return _compare_findings(case.expect.findings, actual, ("claim_id", "rule", "severity"))


def run_case(case: CaseDoc, case_file: CaseFile, path: Path, codeset: CodeSet) -> CaseResult:
    if (case.encounter is None) == (case.claims is None):
        detail = "a case gives exactly one of 'encounter' or 'claims'"
    elif case.encounter is not None:
        detail = _run_encounter(case, case_file.defaults, codeset)
    else:
        detail = _run_claims(case, case_file.defaults, codeset)
    return CaseResult(path.name, case.id, not detail, detail)


def run_all(codeset: CodeSet, directory: Path | None = None) -> list[CaseResult]:
    return [run_case(case, f, path, codeset) for path, f, case in iter_cases(directory)]
