"""The pure comparison of two decisions for the cliff report, table-driven."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from telehealth.policy.decision import Decision
from telehealth.policy.impact import compare
from telehealth.vocabulary import MODALITIES

ON = date(2027, 1, 1)


def _decision(
    status: dict[str, str] | None = None,
    coverage: dict[str, str] | None = None,
    prescribing: dict[str, str] | None = None,
    requirements: list[dict[str, Any]] | None = None,
    *,
    with_prescribing: bool = True,
) -> Decision:
    status = status or {}
    coverage = coverage or {}
    prescribing = prescribing or {}
    return Decision.model_validate(
        {
            "decision_id": "d",
            "ruleset_revision": "r",
            "evaluated_at": datetime(2026, 12, 1, tzinfo=UTC),
            "recommended": None,
            "modalities": {
                m: {
                    "status": status.get(m, "allowed"),
                    "reasons": [
                        {"rule": f"rule.{m}", "message": "because", "citation": f"cite {m}"}
                    ],
                }
                for m in MODALITIES
            },
            "coverage": {m: coverage.get(m, "covered") for m in MODALITIES},
            "requirements": requirements or [],
            "prescribing": (
                {m: prescribing.get(m, "permitted") for m in MODALITIES}
                if with_prescribing
                else None
            ),
            "warnings": [],
        }
    )


AV = "sync_audio_video"
AO = "sync_audio_only"


def _consent(modality: str | None = AV, detail: str = "written consent") -> dict[str, Any]:
    return {"kind": "consent", "modality": modality, "detail": detail, "citation": "42 CFR 1"}


def _in_person(modality: str | None = AV) -> dict[str, Any]:
    return {
        "kind": "in_person_visit",
        "modality": modality,
        "detail": "within 6 months",
        "citation": "SSA 1834(m)(7)",
    }


# (before, after, expected [(kind, modality, before, after)])
CASES: list[tuple[str, Decision, Decision, list[tuple[str, str | None, str, str]]]] = [
    # status
    ("status allowed to not", _decision(), _decision({AV: "not_allowed"}),
     [("status", AV, "allowed", "not_allowed")]),
    ("status allowed to discouraged", _decision(), _decision({AO: "discouraged"}),
     [("status", AO, "allowed", "discouraged")]),
    ("status getting better is no change", _decision({AV: "not_allowed"}), _decision(), []),
    ("status unchanged", _decision({AV: "discouraged"}), _decision({AV: "discouraged"}), []),
    # coverage
    ("coverage lost", _decision(), _decision(coverage={AV: "not_covered"}),
     [("coverage", AV, "covered", "not_covered")]),
    ("coverage conditional", _decision(), _decision(coverage={AO: "conditional"}),
     [("coverage", AO, "covered", "conditional")]),
    ("coverage regained is no change", _decision(coverage={AV: "not_covered"}), _decision(), []),
    # prescribing
    ("prescribing lost", _decision(), _decision(prescribing={AV: "not_permitted"}),
     [("prescribing", AV, "permitted", "not_permitted")]),
    ("prescribing regained is no change", _decision(prescribing={AV: "not_permitted"}),
     _decision(), []),
    ("no prescribing question", _decision(with_prescribing=False),
     _decision(with_prescribing=False), []),
    # requirements
    ("new consent", _decision(), _decision(requirements=[_consent()]),
     [("requirement", AV, "not required", "consent: written consent")]),
    ("new in-person", _decision(), _decision(requirements=[_in_person()]),
     [("requirement", AV, "not required", "in_person_visit: within 6 months")]),
    ("consent already required", _decision(requirements=[_consent()]),
     _decision(requirements=[_consent()]), []),
    ("other requirement kinds are not new burdens", _decision(),
     _decision(requirements=[{"kind": "documentation", "modality": AV, "detail": "x",
                              "citation": "c"}]), []),
]  # fmt: skip


@pytest.mark.parametrize(("name", "before", "after", "expected"), CASES, ids=[c[0] for c in CASES])
def test_compare(
    name: str, before: Decision, after: Decision, expected: list[tuple[str, str | None, str, str]]
) -> None:
    changes = compare(before, after, ON)
    assert [(c.kind, c.modality, c.before, c.after) for c in changes] == expected
    for change in changes:
        assert change.on == ON
        assert change.citation
        if change.modality is not None:
            assert change.rule == f"rule.{change.modality}"


def test_status_change_cites_the_later_decision() -> None:
    (change,) = compare(_decision(), _decision({AV: "not_allowed"}), ON)
    assert (change.rule, change.citation) == (f"rule.{AV}", f"cite {AV}")


def test_requirement_without_modality_keeps_its_citation() -> None:
    (change,) = compare(_decision(), _decision(requirements=[_consent(None)]), ON)
    assert change.modality is None
    assert change.citation == "42 CFR 1"


def test_requirement_without_modality_names_the_rule_with_its_citation() -> None:
    requirement = {**_consent(None), "citation": f"cite {AO}"}
    (change,) = compare(_decision(), _decision(requirements=[requirement]), ON)
    assert (change.rule, change.citation) == (f"rule.{AO}", f"cite {AO}")
