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
