"""The same facts give different codes on different dates of service."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from telehealth.coding.codeset import CodeSet
from telehealth.coding.encounter import Encounter
from telehealth.coding.engine import code_encounter


def _rpm(on: date, **period: Any) -> Encounter:
    return Encounter.model_validate(
        {
            "date_of_service": on.isoformat(),
            "payer": "medicare",
            "patient": {"location_state": "TX", "setting": "home"},
            "modality": "remote_monitoring",
            "service": {"kind": "rpm"},
            "rpm": {"period_start": on.isoformat(), **period},
        }
    )


def _codes(record: Encounter, codeset: CodeSet) -> list[str]:
    return [line.code for line in code_encounter(record, codeset).lines]


def test_12_data_days_nothing_in_2025_99445_in_2026(codeset: CodeSet) -> None:
    in_2025 = code_encounter(_rpm(date(2025, 12, 31), data_days=12), codeset)
    in_2026 = code_encounter(_rpm(date(2026, 1, 1), data_days=12), codeset)
    assert in_2025.lines == []
    assert [f.rule for f in in_2025.findings] == ["rpm.99454_min_data_days"]
    assert [line.code for line in in_2026.lines] == ["99445"]
    assert in_2026.findings == []


@pytest.mark.parametrize(
    ("on", "expected"),
    [(date(2025, 12, 31), []), (date(2026, 1, 1), ["99470"])],
)
def test_15_management_minutes(on: date, expected: list[str], codeset: CodeSet) -> None:
    record = _rpm(on, data_days=0, management_minutes=15, interactive_communication=True)
    assert [c for c in _codes(record, codeset) if c != "99445"] == expected


def test_check_in_code_changes_in_2025(codeset: CodeSet) -> None:
    def check_in(on: str) -> Encounter:
        return Encounter.model_validate(
            {
                "date_of_service": on,
                "payer": "medicare",
                "patient": {"location_state": "TX", "setting": "home"},
                "modality": "sync_audio_only",
                "service": {"kind": "virtual_check_in", "minutes": 8},
            }
        )

    assert _codes(check_in("2024-12-31"), codeset) == ["G2012"]
    assert _codes(check_in("2025-01-01"), codeset) == ["98016"]


def test_audio_only_at_facility_warns_then_errors(codeset: CodeSet) -> None:
    def visit(on: str) -> Encounter:
        return Encounter.model_validate(
            {
                "date_of_service": on,
                "payer": "medicare",
                "patient": {"location_state": "TX", "setting": "facility"},
                "modality": "sync_audio_only",
                "service": {"kind": "em", "em_code": "99213"},
            }
        )

    waiver = code_encounter(visit("2027-12-31"), codeset)
    after = code_encounter(visit("2028-01-01"), codeset)
    assert [(f.rule, f.severity) for f in waiver.findings] == [
        ("audit.audio_only_not_home_waiver", "warning")
    ]
    assert len(waiver.lines) == 1
    assert after.lines == []
    assert ("audit.audio_only_not_home", "error") in [(f.rule, f.severity) for f in after.findings]
