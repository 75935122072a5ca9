from __future__ import annotations

import dataclasses
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from telehealth.coding.codeset import CodeSet
from telehealth.coding.loader import DEFAULT_POLICY_DIR, load_codeset
from telehealth.errors import DomainError, ErrorCode


def _copy_policies(target: Path) -> None:
    for source in DEFAULT_POLICY_DIR.glob("*.yaml"):
        shutil.copy(source, target / source.name)


def test_revision_is_a_content_hash(tmp_path: Path, codeset: CodeSet) -> None:
    _copy_policies(tmp_path)
    assert load_codeset(tmp_path).revision == codeset.revision
    (tmp_path / "codes.yaml").write_text(
        (tmp_path / "codes.yaml").read_text("utf-8") + "\n# amended\n", encoding="utf-8"
    )
    changed = load_codeset(tmp_path).revision
    assert changed != codeset.revision
    assert len(changed) == 64


def test_cases_do_not_change_the_revision(tmp_path: Path, codeset: CodeSet) -> None:
    _copy_policies(tmp_path)
    (tmp_path / "extra.cases.yaml").write_text("cases: []\n", encoding="utf-8")
    assert load_codeset(tmp_path).revision == codeset.revision


def test_codeset_is_immutable(codeset: CodeSet) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        codeset.revision = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        codeset.codes["99999"] = codeset.codes["99214"]  # type: ignore[index]


def test_every_rule_and_code_has_citation_and_confidence(codeset: CodeSet) -> None:
    infos = [r.info for r in codeset.audit_rules] + [r.info for r in codeset.encounter_rules]
    infos += [s.info for s in codeset.selectors] + [p.info for p in codeset.placement]
    infos += [r.info for s in codeset.selectors for r in s.on_no_match]
    infos += [t.info for t in codeset.em_total_time]
    assert infos
    for info in infos:
        assert info.citation.strip(), info.id
        assert info.confidence in {"primary", "secondary", "unverified"}
    for code in codeset.codes.values():
        assert code.citation.strip(), code.code
        assert code.confidence in {"primary", "secondary", "unverified"}, code.code


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"when": {"pos": 2}}, "expected a quoted string"),
        ({"when": {"colour": "red"}}, "unknown fact"),
        ({"message": "bad {nonsense}"}, "unknown value"),
        ({"kind": "vibes"}, "unknown audit rule kind"),
        # Values the shared vocabulary does not know could never match: a misspelling.
        ({"when": {"modality": "video"}}, "'video' is not a known modality"),
        ({"when": {"patient_state": ["AK", "XX"]}}, "'XX' is not a known patient state"),
        ({"when": {"not": {"payer": "medicare_advantage"}}}, "not a known payer"),
    ],
)
def test_bad_rules_are_rejected(tmp_path: Path, change: dict[str, object], message: str) -> None:
    _copy_policies(tmp_path)
    rule: dict[str, object] = {
        "id": "audit.test_rule",
        "kind": "condition",
        "severity": "error",
        "message": "test",
        "effective_from": "2020-01-01",
        "citation": "test",
        "confidence": "primary",
    }
    text = yaml.safe_dump({"audit_rules": [rule | change]})
    (tmp_path / "zz.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(DomainError) as caught:
        load_codeset(tmp_path)
    assert caught.value.code is ErrorCode.CONFIGURATION
    assert message in caught.value.message


def test_duplicate_rule_ids_are_rejected(tmp_path: Path) -> None:
    _copy_policies(tmp_path)
    shutil.copy(tmp_path / "audit.yaml", tmp_path / "audit-copy.yaml")
    with pytest.raises(DomainError, match="duplicate"):
        load_codeset(tmp_path)


def test_total_time_thresholds_are_data_with_dates(codeset: CodeSet) -> None:
    thresholds = codeset.total_time_thresholds(date(2026, 1, 5))
    assert thresholds == {
        "99202": 15,
        "99203": 30,
        "99204": 45,
        "99205": 60,
        "99212": 10,
        "99213": 20,
        "99214": 30,
        "99215": 40,
    }
    # The reference does not state them: the data says so.
    assert codeset.em_total_time[0].info.confidence == "unverified"
    assert codeset.total_time_thresholds(date(2020, 12, 31)) == {}


def test_a_total_time_table_naming_an_unknown_code_is_rejected(tmp_path: Path) -> None:
    _copy_policies(tmp_path)
    table = {
        "id": "em_time.test",
        "effective_from": "2021-01-01",
        "minutes": {"99999": 10},
        "citation": "test",
        "confidence": "unverified",
    }
    (tmp_path / "extra.yaml").write_text(yaml.safe_dump({"em_total_time": [table]}), "utf-8")
    with pytest.raises(DomainError, match="unknown code 99999"):
        load_codeset(tmp_path)
