"""Every table-driven case beside the coding policies, one test each."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from telehealth.coding.cases import CaseDoc, CaseFile, iter_cases, run_all, run_case
from telehealth.coding.codeset import CodeSet
from telehealth.coding.loader import DEFAULT_POLICY_DIR, load_codeset

CASES = list(iter_cases())


@pytest.mark.parametrize(
    ("path", "case_file", "case"), CASES, ids=[f"{p.stem}::{c.id}" for p, _, c in CASES]
)
def test_case(path: Path, case_file: CaseFile, case: CaseDoc, codeset: CodeSet) -> None:
    result = run_case(case, case_file, path, codeset)
    assert result.passed, result.detail


def test_every_case_has_a_citation() -> None:
    assert all(case.citation.strip() for _, _, case in CASES)


def test_case_ids_are_unique_per_file() -> None:
    seen = {(p.name, c.id) for p, _, c in CASES}
    assert len(seen) == len(CASES)


def test_every_code_family_has_an_encounter_or_claim_case(codeset: CodeSet) -> None:
    mentioned = {
        str(value)
        for _, _, case in CASES
        for value in _values(case.model_dump())
        if isinstance(value, str)
    }
    families = {code.family for code in codeset.codes.values()}
    covered = {codeset.codes[c].family for c in mentioned if c in codeset.codes}
    assert families <= covered


def test_every_rule_is_exercised_by_a_case(codeset: CodeSet) -> None:
    expected = {
        str(f.get("rule")) for _, _, case in CASES for f in case.expect.findings if f.get("rule")
    }
    rule_ids = {r.info.id for r in codeset.audit_rules} | {
        r.info.id for r in codeset.encounter_rules
    }
    rule_ids |= {r.info.id for s in codeset.selectors for r in s.on_no_match}
    assert rule_ids - expected == set()


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    for source in DEFAULT_POLICY_DIR.glob("*.yaml"):
        if not source.name.endswith(".cases.yaml"):
            shutil.copy(source, tmp_path / source.name)
    (tmp_path / "wrong.cases.yaml").write_text(
        "cases:\n"
        "  - id: wrong\n"
        "    citation: test\n"
        "    claims: [{claim_id: c1, date_of_service: 2025-01-02, payer: medicare, code: '99441',"
        " modifiers: '', pos: '', patient_state: TX, modality: '', alaska_hawaii_demo: false}]\n"
        "    expect: {findings: []}\n",
        encoding="utf-8",
    )
    results = run_all(load_codeset(tmp_path), tmp_path)
    assert [r.passed for r in results] == [False]
    assert "audit.code_deleted" in results[0].detail


def _values(data: object) -> list[object]:
    if isinstance(data, dict):
        return [v for value in data.values() for v in _values(value)]
    if isinstance(data, list):
        return [v for value in data for v in _values(value)]
    return [data]
