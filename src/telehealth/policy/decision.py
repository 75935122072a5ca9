"""The decision document returned by ``decide``."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

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


ConsentForm = Literal["written", "verbal", "either", "unspecified"]
ConsentRenewal = Literal["none", "annual", "per_episode", "unknown"]


class ConsentTerms(_Frozen):
    """How a consent requirement must be met, where the law says so.

    ``form``: written (signed, electronic signature included), verbal, either, or unspecified
    (a duty with no form named). ``signature_within_days``: a verbal consent counts only if a
    signed statement follows within that many days. ``renewal``: none (once, before the first
    telehealth encounter), annual, per_episode (each episode of care), or unknown (sources
    conflict; enforced as annual). ``scope``: whom the rule binds -- ``all``, ``medicaid`` or
    ``profession:<discipline>``.
    """

    form: ConsentForm
    signature_within_days: int | None = Field(default=None, ge=1, le=365)
    renewal: ConsentRenewal
    scope: str = Field(pattern=r"^(all|medicaid|profession:[a-z_]+)$")


class Requirement(_Frozen):
    kind: RequirementKind
    modality: Modality | None
    detail: str
    citation: str
    # Set only on consent requirements whose form, follow-up or renewal the law spells out.
    consent: ConsentTerms | None = None


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
