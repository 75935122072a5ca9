"""The same facts give different codes on different dates of service."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from telehealth.coding.codeset import CodeSet
from telehealth.coding.encounter import CodingResult, Encounter
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


def _visit(service: dict[str, object], **extra: object) -> Encounter:
    return Encounter.model_validate(
        {
            "date_of_service": "2026-03-02",
            "payer": "medicare",
            "patient": {"location_state": "TX", "setting": "home"},
            "modality": "sync_audio_video",
            "service": {"kind": "em", **service},
            **extra,
        }
    )


def _rules(result: CodingResult) -> list[tuple[str, str]]:
    return [(f.rule, f.severity) for f in result.findings]


def test_a_visit_without_a_chosen_level_is_a_finding_not_a_default_line(
    codeset: CodeSet,
) -> None:
    for new_patient in (True, False):
        result = code_encounter(_visit({"new_patient": new_patient}), codeset)
        assert result.lines == []
        assert _rules(result) == [("encounter.em_level_missing", "error")]
        assert "No E/M level was chosen" in result.findings[0].message


def test_no_two_way_media_is_a_finding_whatever_the_level(codeset: CodeSet) -> None:
    result = code_encounter(_visit({"em_code": "99213"}, two_way_media=False), codeset)
    assert result.lines == []
    assert _rules(result) == [("encounter.no_two_way_media", "error")]
    assert "No two-way audio or video was recorded" in result.findings[0].message
    both = code_encounter(_visit({}, two_way_media=False), codeset)
    assert ("encounter.no_two_way_media", "error") in _rules(both)
    assert both.lines == []


def test_the_basis_of_the_level_reaches_the_line(codeset: CodeSet) -> None:
    by_mdm = code_encounter(_visit({"em_code": "99215", "em_basis": "mdm", "minutes": 12}), codeset)
    assert "level chosen by medical decision making" in by_mdm.lines[0].rationale
    assert by_mdm.findings == []
    by_time = code_encounter(
        _visit({"em_code": "99215", "em_basis": "time", "minutes": 12}), codeset
    )
    assert "level chosen by total time: 12 min (40 min or more)" in by_time.lines[0].rationale
    [short] = by_time.findings
    assert (short.rule, short.severity) == ("encounter.em_time_short", "warning")
    assert "at least 40 minutes" in short.message
