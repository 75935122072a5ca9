"""Every table-driven case under policies/ as its own test."""

from __future__ import annotations

import pytest

from telehealth.policy.cases import Case, load_cases, run_case
from tests.policy.support import POLICIES, ruleset

_CASES, _PROBLEMS = load_cases(POLICIES)


def test_case_files_load() -> None:
    assert _PROBLEMS == []


def test_enough_cases() -> None:
    assert len(_CASES) >= 150


@pytest.mark.parametrize("case", _CASES, ids=[c.id for c in _CASES])
def test_case(case: Case) -> None:
    result = run_case(case, ruleset())
    assert result.passed, "\n".join(result.failures)
