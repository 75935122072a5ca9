"""CLI contract: exit statuses 0/1/2, streamed JSON lines, table output, stdin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from telehealth.coding.cli import code_command, coding_app

runner = CliRunner()
HEADER = (
    "claim_id,date_of_service,payer,code,modifiers,pos,patient_state,modality,"
    "alaska_hawaii_demo,patient_id\n"
)
ENCOUNTER = {
    "date_of_service": "2025-06-02",
    "payer": "medicare",
    "patient": {"location_state": "TX", "setting": "home", "alaska_hawaii_demo": False},
    "clinician": {"can_bill_em": True, "facility_type": "none"},
    "modality": "sync_audio_video",
    "service": {"kind": "em", "new_patient": False, "em_code": "99214"},
}


def _code_app() -> typer.Typer:
    app = typer.Typer()
    app.command("code")(code_command)
    app.command("unused")(lambda: None)  # keeps "code" a named sub-command
    return app


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_code_prints_lines(tmp_path: Path) -> None:
    result = runner.invoke(_code_app(), ["code", _write(tmp_path, "e.json", json.dumps(ENCOUNTER))])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["lines"][0] | {"rationale": "", "citation": ""} == {
        "code": "99214",
        "modifiers": ["95"],
        "pos": "10",
        "units": 1,
        "rationale": "",
        "citation": "",
    }
    assert body["findings"] == []


def test_code_reads_stdin() -> None:
    result = runner.invoke(_code_app(), ["code", "-"], input=json.dumps(ENCOUNTER))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["lines"][0]["code"] == "99214"


def test_code_error_finding_exits_1() -> None:
    record = ENCOUNTER | {"modality": "async_store_and_forward"}
    result = runner.invoke(_code_app(), ["code", "-"], input=json.dumps(record))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["findings"][0]["rule"] == "encounter.async_em_medicare"


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (ENCOUNTER | {"payer": "tricare"}, "payer"),
        (ENCOUNTER | {"service": {"kind": "em", "em_code": "12345"}}, "service.em_code"),
        (ENCOUNTER | {"surprise": 1}, "surprise"),
        (ENCOUNTER | {"patient": {"location_state": "Texas", "setting": "home"}}, "location_state"),
    ],
)
def test_code_invalid_input_exits_2_naming_the_field(record: object, field: str) -> None:
    result = runner.invoke(_code_app(), ["code", "-"], input=json.dumps(record))
    assert result.exit_code == 2
    assert field in result.stderr


def test_code_unparseable_json_exits_2() -> None:
    result = runner.invoke(_code_app(), ["code", "-"], input="{not json")
    assert result.exit_code == 2


def test_audit_clean_file_exits_0(tmp_path: Path) -> None:
    text = HEADER + "c1,2025-06-02,medicare,99214,95,10,TX,sync_audio_video,false,p1\n"
    result = runner.invoke(coding_app, ["audit", _write(tmp_path, "claims.csv", text)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["summary"]["lines_read"] == 1


def test_audit_findings_stream_then_summary(tmp_path: Path) -> None:
    text = (
        HEADER
        + "c1,2025-06-02,medicare,99213,GQ,02,TX,async_store_and_forward,false,p1\n"
        + "c2,2025-06-02,medicare,99421,,10,TX,,false,p1\n"
    )
    result = runner.invoke(coding_app, ["audit", _write(tmp_path, "claims.csv", text)])
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0] == {
        "claim_id": "c1",
        "severity": "error",
        "rule": "audit.gq_outside_demo",
        "message": rows[0]["message"],
        "citation": rows[0]["citation"],
        "line": 2,
    }
    assert rows[1]["severity"] == "warning"
    summary = rows[-1]["summary"]
    assert summary["by_severity"] == {"error": 1, "warning": 1}
    assert summary["lines_read"] == 2
    assert len(summary["codeset_revision"]) == 64


def test_audit_warnings_only_exit_0(tmp_path: Path) -> None:
    text = HEADER + "c2,2025-06-02,medicare,99421,,10,TX,,false,p1\n"
    result = runner.invoke(coding_app, ["audit", _write(tmp_path, "claims.csv", text)])
    assert result.exit_code == 0


def test_audit_jsonl_from_stdin_detected_by_content() -> None:
    row = {
        "claim_id": "j1",
        "date_of_service": "2025-06-02",
        "payer": "medicare",
        "code": "98006",
        "modifiers": "",
        "pos": "10",
        "patient_state": "TX",
        "modality": "sync_audio_video",
        "alaska_hawaii_demo": False,
    }
    result = runner.invoke(coding_app, ["audit", "-"], input=json.dumps(row) + "\n")
    assert result.exit_code == 1
    assert json.loads(result.stdout.splitlines()[0])["rule"] == "audit.payer_invalid_code"


def test_audit_unreadable_line_exits_2_with_line_number(tmp_path: Path) -> None:
    text = (
        HEADER
        + "c1,2025-06-02,medicare,99214,95,10,TX,sync_audio_video,false,p1\n"
        + "c2,not-a-date,medicare,99214,95,10,TX,sync_audio_video,false,p1\n"
    )
    result = runner.invoke(coding_app, ["audit", _write(tmp_path, "claims.csv", text)])
    assert result.exit_code == 2
    assert "line 3" in result.stderr
    assert "date_of_service" in result.stderr


def test_audit_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(coding_app, ["audit", str(tmp_path / "absent.csv")])
    assert result.exit_code == 2


def test_audit_table_format(tmp_path: Path) -> None:
    text = HEADER + "c1,2025-06-02,medicare,99214,93,10,TX,sync_audio_video,false,p1\n"
    result = runner.invoke(
        coding_app, ["audit", _write(tmp_path, "claims.csv", text), "--format", "table"]
    )
    assert result.exit_code == 1
    assert "audit.audio_only_modifier_on_video" in result.stdout
    assert "1 lines read, 1 findings (1 errors, 0 warnings)" in result.stdout


def test_audit_progress_bar_can_be_forced(tmp_path: Path) -> None:
    text = HEADER + "c1,2025-06-02,medicare,99214,95,10,TX,sync_audio_video,false,p1\n"
    result = runner.invoke(
        coding_app, ["audit", _write(tmp_path, "claims.csv", text), "--progress"]
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout.splitlines()[-1])["summary"]["lines_read"] == 1


def test_cases_command() -> None:
    result = runner.invoke(coding_app, ["test"])
    assert result.exit_code == 0
    assert result.stdout.strip().endswith("passed, 0 failed")
