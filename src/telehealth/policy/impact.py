"""What changes between two decisions for the same encounter (pure).

The cliff report decides an encounter's facts twice, with the date of service moved from one
date to another, and lists here what the later decision takes away or adds: a modality no
longer allowed, coverage lost, prescribing no longer permitted, a new requirement. Each change
carries the rule and citation of the later decision that explains it, and the later date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from telehealth.policy.decision import Decision, Requirement
from telehealth.vocabulary import MODALITIES, Modality

ChangeKind = Literal["status", "coverage", "prescribing", "requirement"]

# Worse-to-better orders: a change counts when the later value ranks lower.
_STATUS_RANK = {"not_allowed": 0, "discouraged": 1, "allowed": 2}
_COVERAGE_RANK = {"not_covered": 0, "unknown": 1, "conditional": 2, "covered": 3}
_PRESCRIBING_RANK = {"not_permitted": 0, "permitted": 1}
# The requirements that ask something new of the patient or clinician before the visit (a
# supply limit means a shorter prescription and an earlier return).
NEW_REQUIREMENT_KINDS = frozenset({"consent", "in_person_visit", "supply_limit"})


@dataclass(frozen=True, slots=True)
class Change:
    kind: ChangeKind
    modality: Modality | None
    before: str
    after: str
    rule: str
    citation: str
    on: date


def _reason(after: Decision, modality: Modality, before: Decision | None = None) -> tuple[str, str]:
    """The rule and citation of the later decision's first reason for the modality that the
    earlier decision did not give (the rule that changed), else its first reason."""
    reasons = after.modalities[modality].reasons
    old = {r.rule for r in before.modalities[modality].reasons} if before is not None else set()
    for reason in [r for r in reasons if r.rule not in old] + list(reasons):
        return reason.rule, reason.citation
    return "", ""


def _ranked_changes(
    kind: ChangeKind,
    before: dict[Modality, str] | None,
    after: dict[Modality, str] | None,
    rank: dict[str, int],
    decisions: tuple[Decision, Decision],
    on: date,
) -> list[Change]:
    if before is None or after is None:
        return []
    changes = []
    for modality in MODALITIES:
        old, new = before[modality], after[modality]
        if rank[new] < rank[old]:
            rule, citation = _reason(decisions[1], modality, decisions[0])
            changes.append(Change(kind, modality, old, new, rule, citation, on))
    return changes


def _requirement_key(requirement: Requirement) -> tuple[str, str | None, str]:
    return requirement.kind, requirement.modality, requirement.detail


def _requirement_rule(after: Decision, before: Decision, requirement: Requirement) -> str:
    """The rule behind a new requirement: its modality's changed reason, else the later
    decision's reason with the same citation, else none named."""
    if requirement.modality is not None:
        return _reason(after, requirement.modality, before)[0]
    for assessment in after.modalities.values():
        for reason in assessment.reasons:
            if reason.citation == requirement.citation:
                return reason.rule
    return ""


def compare(before: Decision, after: Decision, on: date) -> list[Change]:
    """The changes from ``before`` to ``after`` that make ``after`` stricter, in a stable
    order: status, coverage, prescribing (each by modality), then new requirements."""
    changes = _ranked_changes(
        "status",
        {m: a.status for m, a in before.modalities.items()},
        {m: a.status for m, a in after.modalities.items()},
        _STATUS_RANK,
        (before, after),
        on,
    )
    changes += _ranked_changes(
        "coverage", dict(before.coverage), dict(after.coverage), _COVERAGE_RANK, (before, after), on
    )
    changes += _ranked_changes(
        "prescribing",
        dict(before.prescribing) if before.prescribing is not None else None,
        dict(after.prescribing) if after.prescribing is not None else None,
        _PRESCRIBING_RANK,
        (before, after),
        on,
    )
    had = {_requirement_key(r) for r in before.requirements}
    for requirement in after.requirements:
        if requirement.kind in NEW_REQUIREMENT_KINDS and _requirement_key(requirement) not in had:
            rule = _requirement_rule(after, before, requirement)
            changes.append(
                Change(
                    "requirement",
                    requirement.modality,
                    "not required",
                    f"{requirement.kind}: {requirement.detail}",
                    rule,
                    requirement.citation,
                    on,
                )
            )
    return changes
