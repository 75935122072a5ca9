"""The decision document returned by ``decide``."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_validator

from telehealth.vocabulary import MODALITIES, Modality

Status = Literal["allowed", "discouraged", "not_allowed"]
Coverage = Literal["covered", "conditional", "not_covered", "unknown"]
Prescribing = Literal["permitted", "not_permitted"]
RequirementKind = Literal[
    "consent",
    "licensure",
    "in_person_visit",
    "documentation",
    "pdmp_check",
    "registration",
    # A cap on how much may be prescribed at a time (42 CFR 12.3: 7 days without the PDMP).
    "supply_limit",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reason(_Frozen):
    rule: str
    message: str
    citation: str


class ModalityAssessment(_Frozen):
    status: Status
    reasons: list[Reason]


class Requirement(_Frozen):
    kind: RequirementKind
    modality: Modality | None
    detail: str
    citation: str


class DecisionWarning(_Frozen):
    code: str
    message: str


def _require_every_modality(value: dict[Modality, object]) -> None:
    missing = [m for m in MODALITIES if m not in value]
    if missing:
        raise ValueError(f"missing modalities: {', '.join(missing)}")


class Decision(_Frozen):
    decision_id: str
    ruleset_revision: str
    evaluated_at: AwareDatetime
    recommended: Modality | None
    modalities: dict[Modality, ModalityAssessment]
    coverage: dict[Modality, Coverage]
    requirements: list[Requirement]
    prescribing: dict[Modality, Prescribing] | None
    warnings: list[DecisionWarning]

    @field_validator("modalities", "coverage")
    @classmethod
    def _complete(cls, value: dict[Modality, object]) -> dict[Modality, object]:
        _require_every_modality(value)
        return value

    @field_validator("prescribing")
    @classmethod
    def _complete_prescribing(
        cls, value: dict[Modality, Prescribing] | None
    ) -> dict[Modality, Prescribing] | None:
        if value is not None:
            _require_every_modality(dict(value))
        return value
