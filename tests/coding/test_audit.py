"""Audit driver: streaming, memoisation, bounded cross-line state, reader errors."""

from __future__ import annotations

import io
import random
from datetime import date, timedelta

import pytest

from telehealth.coding.audit import Auditor, check_line
from telehealth.coding.codeset import CodeSet
from telehealth.coding.reader import Claim, read_claims
from telehealth.errors import DomainError

HEADER = (
    "claim_id,date_of_service,payer,code,modifiers,pos,patient_state,modality,alaska_hawaii_demo"
)


def _claim(line: int, code: str, **fields: object) -> Claim:
    base: dict[str, object] = {
        "line": line,
        "claim_id": f"c{line}",
        "date_of_service": date(2026, 3, 2),
        "payer": "medicare",
        "code": code,
        "modifiers": frozenset(),
        "pos": None,
        "patient_state": "TX",
        "modality": None,
        "alaska_hawaii_demo": False,
    }
    base.update(fields)
    return Claim(**base)  # type: ignore[arg-type]


def test_memoised_results_equal_the_pure_check(codeset: CodeSet) -> None:
    rng = random.Random(3)
    codes = [*codeset.codes, "90837"]
    auditor = Auditor(codeset)
    for line in range(3000):
        claim = _claim(
            line,
            rng.choice(codes),
            date_of_service=date(2019, 1, 1) + timedelta(days=rng.randint(0, 3650)),
            payer=rng.choice(["medicare", "commercial"]),
            modifiers=frozenset(rng.sample(["95", "93", "GQ", "GT", "FQ"], rng.randint(0, 2))),
            pos=rng.choice([None, "02", "10"]),
            modality=rng.choice([None, "sync_audio_video", "sync_audio_only", "remote_monitoring"]),
            data_days=rng.choice([None, 1, 12, 20]),
            minutes=rng.choice([None, 5, 15, 25]),
            interactive_communication=rng.choice([None, True, False]),
            new_patient=rng.choice([None, True, False]),
            section_1135_waiver=rng.choice([None, True, False]),
            billing_setting=rng.choice([None, "office", "fqhc"]),
        )
        assert auditor._line_hits(claim) == check_line(claim, codeset)


def test_cross_line_state_is_bounded(codeset: CodeSet) -> None:
    auditor = Auditor(codeset, max_groups=10)
    for i in range(1000):
        list(auditor.check(_claim(i, "99454", patient_id=f"p{i}")))
    assert len(auditor._groups) == 10
    assert auditor.summary.groups_evicted == 990


def test_evicted_group_is_settled(codeset: CodeSet) -> None:
    auditor = Auditor(codeset, max_groups=1)
    first = auditor.check(_claim(1, "99458", patient_id="p1"))
    second = auditor.check(_claim(2, "99454", patient_id="p2"))
    assert first == []
    assert [(h.claim_id, h.rule) for h in second] == [("c1", "audit.rpm_99458_without_first_20")]
    assert auditor.finish() == []


def test_summary_counts(codeset: CodeSet) -> None:
    auditor = Auditor(codeset)
    claims = [
        _claim(1, "99214", modifiers=frozenset({"GQ"})),
        _claim(2, "99214"),
        _claim(3, "99421", pos="10"),
    ]
    hits = list(auditor.run(claims))
    summary = auditor.summary.as_dict(codeset.revision)
    assert len(hits) == 2
    assert summary["lines_read"] == 3
    assert summary["by_severity"] == {"error": 1, "warning": 1}
    assert summary["by_rule"] == {
        "audit.gq_outside_demo": 1,
        "audit.telehealth_marker_on_non_telehealth": 1,
    }
    assert summary["claims_with_findings"] == 2


def test_reader_streams_lazily() -> None:
    def lines() -> object:
        yield HEADER + "\n"
        yield "c1,2025-01-02,medicare,99214,95,10,TX,sync_audio_video,false\n"
        raise AssertionError("read past the first claim")

    claims = read_claims(lines())  # type: ignore[arg-type]
    assert next(claims).claim_id == "c1"


def test_reader_csv_and_jsonl_agree() -> None:
    csv_text = HEADER + ",minutes\nc1,2025-01-02,Medicare,99457,,2,tx,remote_monitoring,0,25\n"
    jsonl = (
        '{"claim_id": "c1", "date_of_service": "2025-01-02", "payer": "medicare", '
        '"code": "99457", "modifiers": [], "pos": "02", "patient_state": "TX", '
        '"modality": "remote_monitoring", "alaska_hawaii_demo": false, "minutes": 25}\n'
    )
    from_csv = list(read_claims(io.StringIO(csv_text), "claims.csv"))
    from_json = list(read_claims(io.StringIO(jsonl), "claims.jsonl"))
    assert from_csv[0]._replace(line=1) == from_json[0]
    assert from_csv[0].pos == "02"


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        (HEADER + "\nc1,2025-01-02,medicare,99214\n", "x.csv", "line 2: expected 9 fields"),
        ("claim_id,code\nc1,99214\n", "x.csv", "line 1: CSV header lacks column(s)"),
        (HEADER + "\n\nc1,2025-13-02,medicare,99214,,10,TX,,false\n", "x.csv", "line 3:"),
        ('{"claim_id": "c1"}\n', "x.jsonl", "line 1: missing field(s)"),
        ('{"claim_id": \n', "-", "line 1: not valid JSON"),
        (
            HEADER + "\nc1,2025-01-02,medicare,99214,,10,TX,telepathy,false\n",
            "x.csv",
            "line 2: modality",
        ),
    ],
)
def test_reader_errors_name_the_line(text: str, name: str, expected: str) -> None:
    with pytest.raises(DomainError) as caught:
        list(read_claims(io.StringIO(text), name))
    assert caught.value.message.startswith(expected)


def test_pure_modules_import_no_infrastructure() -> None:
    import ast
    from pathlib import Path

    import telehealth.coding as package

    forbidden = ("sqlalchemy", "fastapi", "telehealth.db", "telehealth.web", "telehealth.config")
    pure = ("audit", "codeset", "encounter", "engine", "loader", "reader", "cases", "schema")
    root = Path(package.__file__).parent
    for name in pure:
        tree = ast.parse((root / f"{name}.py").read_text("utf-8"))
        imported = [
            n.module if isinstance(n, ast.ImportFrom) else alias.name
            for n in ast.walk(tree)
            if isinstance(n, ast.Import | ast.ImportFrom)
            for alias in n.names
        ]
        assert not [m for m in imported if m and m.startswith(forbidden)], name


def _group_hits(codeset: CodeSet, *claims: Claim) -> list[tuple[str, str, str]]:
    auditor = Auditor(codeset)
    return [(h.claim_id, h.rule, h.message) for h in auditor.run(claims)]


@pytest.mark.parametrize("order", ["rpm_first", "rtm_first"])
def test_rpm_rtm_finding_labels_each_code_by_its_own_kind(codeset: CodeSet, order: str) -> None:
    rpm = _claim(1, "99454", claim_id="rpm", patient_id="p1")
    rtm = _claim(2, "98977", claim_id="rtm", patient_id="p1")
    claims = (rpm, rtm) if order == "rpm_first" else (rtm, rpm)
    [(claim_id, rule, message)] = _group_hits(codeset, *claims)
    assert rule == "audit.rpm_with_rtm"
    assert claim_id == claims[1].claim_id
    assert "RPM 99454 (claim rpm)" in message
    assert "RTM 98977 (claim rtm)" in message
    assert "RPM 98977" not in message
    assert "RTM 99454" not in message


def test_99454_repeats_are_each_flagged_against_the_first(codeset: CodeSet) -> None:
    claims = [
        _claim(i, "99454", patient_id="p1", date_of_service=date(2026, 3, 1 + i)) for i in (1, 2, 3)
    ]
    hits = _group_hits(codeset, *claims)
    assert [(c, r) for c, r, _ in hits] == [
        ("c2", "audit.rpm_99454_once_per_period"),
        ("c3", "audit.rpm_99454_once_per_period"),
    ]
    assert all("claim c1" in message for _, _, message in hits)


def test_repeat_rule_not_in_force_stays_silent(codeset: CodeSet) -> None:
    # 99445's repeat warning starts with the code, 2026-01-01.
    claims = [
        _claim(i, "99445", patient_id="p1", date_of_service=date(2025, 12, 10 + i)) for i in (1, 2)
    ]
    rules = {rule for _, rule, _ in _group_hits(codeset, *claims)}
    assert rules == {"audit.code_not_yet_effective"}


NEW_COLUMNS = HEADER + ",new_patient,billing_setting,section_1135_waiver"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (",,", (None, None, None)),
        ("true,FQHC,no", (True, "fqhc", False)),
        ("0,hospital_outpatient,Y", (False, "hospital_outpatient", True)),
    ],
)
def test_reader_new_optional_columns(row: str, expected: tuple[object, ...]) -> None:
    text = NEW_COLUMNS + "\nc1,2026-03-02,medicare,99421,,,TX,,false," + row + "\n"
    [claim] = read_claims(io.StringIO(text), "x.csv")
    assert (claim.new_patient, claim.billing_setting, claim.section_1135_waiver) == expected


def test_csv_without_new_columns_reads_them_as_unknown() -> None:
    [claim] = read_claims(io.StringIO(HEADER + "\nc1,2026-03-02,medicare,99421,,,TX,,false\n"))
    assert (claim.new_patient, claim.billing_setting, claim.section_1135_waiver) == (
        None,
        None,
        None,
    )


def test_new_patient_column_reaches_the_audit(codeset: CodeSet) -> None:
    text = NEW_COLUMNS + "\nc1,2026-03-02,medicare,98016,,,TX,sync_audio_only,false,yes,office,\n"
    hits = list(Auditor(codeset).run(read_claims(io.StringIO(text), "x.csv")))
    assert [(h.rule, h.line) for h in hits] == [("audit.established_only_new_patient", 2)]
    assert hits[0].citation
    assert "federal-facts" in hits[0].citation
