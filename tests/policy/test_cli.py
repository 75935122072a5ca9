"""The command-line surface through Typer's test runner."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from telehealth.policy.cli import decide_command, policy_app
from tests.policy.support import copy_policies, default_facts

runner = CliRunner()
decide_app = typer.Typer()
decide_app.command()(decide_command)


def test_policy_test_runs_every_case() -> None:
    result = runner.invoke(policy_app, ["test"])
    assert result.exit_code == 0, result.output
    summary = result.output.strip().splitlines()[-1]
    passed, failed = summary.split(", ")
    assert int(passed.split()[0]) >= 150
    assert failed == "0 failed"


def test_policy_test_fails_on_a_broken_case(tmp_path: Path) -> None:
    root = copy_policies(tmp_path)
    path = root / "payers" / "other.cases.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["cases"][0]["expect"]["coverage"]["in_person"] = "covered"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = runner.invoke(policy_app, ["test", "--policies", str(root)])
    assert result.exit_code == 1
    assert "FAIL payers/other.cases.yaml::" in result.output
    assert ", 1 failed" in result.output


def test_policy_validate_ok() -> None:
    result = runner.invoke(policy_app, ["validate"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok:")


def test_policy_validate_reports_problems(tmp_path: Path) -> None:
    root = copy_policies(tmp_path)
    path = root / "federal" / "dea.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["rules"][0]["citation"]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = runner.invoke(policy_app, ["validate", "--policies", str(root)])
    assert result.exit_code == 1
    assert "citation" in result.output


def test_decide_from_file(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(default_facts()), encoding="utf-8")
    result = runner.invoke(decide_app, [str(path)])
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert decision["recommended"] == "async_store_and_forward"
    assert set(decision["modalities"]) == set(decision["coverage"])


def test_decide_from_stdin() -> None:
    result = runner.invoke(decide_app, ["-"], input=json.dumps(default_facts()))
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["decision_id"].startswith("dec_")


def test_decide_bad_field_exits_2_naming_it() -> None:
    facts = default_facts()
    facts["patient"]["location_state"] = "Texas"
    result = runner.invoke(decide_app, ["-"], input=json.dumps(facts))
    assert result.exit_code == 2
    assert "patient.location_state:" in result.stderr


def test_decide_bad_discipline_and_billing_setting_exit_2_naming_both() -> None:
    facts = default_facts()
    facts["clinician"]["discipline"] = "therapist"
    facts["encounter"]["billing_setting"] = "clinic"
    result = runner.invoke(decide_app, ["-"], input=json.dumps(facts))
    assert result.exit_code == 2
    assert "clinician.discipline:" in result.stderr
    assert "encounter.billing_setting:" in result.stderr
    assert "'physician'" in result.stderr  # the allowed values are listed


def test_decide_bad_counts_and_history_facts_exit_2_naming_each() -> None:
    facts = default_facts()
    facts["patient"]["telehealth_visits_same_condition_12_months"] = -2
    facts["encounter"]["controlled_substance"] = {
        "schedule": "III",
        "opioid_use_disorder_treatment": True,
        "buprenorphine_course_start": "01/09/2026",
        "pdmp_available": "unknown",
        "dea_registered_facility": "yes",
    }
    result = runner.invoke(decide_app, ["-"], input=json.dumps(facts))
    assert result.exit_code == 2
    assert "patient.telehealth_visits_same_condition_12_months:" in result.stderr
    assert "greater than or equal to 0" in result.stderr
    for name in ("buprenorphine_course_start", "pdmp_available", "dea_registered_facility"):
        assert f"encounter.controlled_substance.{name}:" in result.stderr
    assert "YYYY-MM-DD" in result.stderr


def test_decide_contradictory_drug_facts_exit_2_saying_why() -> None:
    facts = default_facts()
    facts["encounter"]["controlled_substance"] = {
        "schedule": "IV",
        "buprenorphine_course_start": "2027-01-05",
        "dea_registered_facility": True,
    }
    result = runner.invoke(decide_app, ["-"], input=json.dumps(facts))
    assert result.exit_code == 2
    assert "buprenorphine_course_start: must not be after date_of_service" in result.stderr


def test_decide_with_the_new_facts_prints_their_rules() -> None:
    facts = default_facts()
    facts["date_of_service"] = "2027-03-01"
    facts["encounter"]["purpose"] = "substance_use_disorder"
    facts["encounter"]["controlled_substance"] = {
        "schedule": "III",
        "opioid_use_disorder_treatment": True,
        "buprenorphine_course_start": "2027-01-05",
        "pdmp_available": False,
    }
    result = runner.invoke(decide_app, ["-"], input=json.dumps(facts))
    assert result.exit_code == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["prescribing"]["sync_audio_only"] == "permitted"
    assert any(r["kind"] == "supply_limit" for r in decision["requirements"])


def test_decide_bad_json_exits_2() -> None:
    result = runner.invoke(decide_app, ["-"], input="{not json")
    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr


def test_decide_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(decide_app, [str(tmp_path / "nope.json")])
    assert result.exit_code == 2
