"""Request and response bodies of the review routes. Inputs and outputs forbid unknown fields."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from telehealth.policy.facts import Purpose, StateCode
from telehealth.review.model import CaseKind, CaseStatus, Recommendation, Urgency
from telehealth.vocabulary import Acuity, Payer, Schedule, Setting

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Specialty = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,63}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuestionnaireRef(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,63}$")]
    version: int = Field(ge=1, le=1000)


class CaseIn(Strict):
    specialty: Specialty
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    urgency: Urgency = Urgency.ROUTINE
    acuity: Acuity = "routine"
    purpose: Purpose = "new_problem"
    location_state: StateCode
    payer: Payer
    setting: Setting = "home"
    questionnaire: QuestionnaireRef
    answers: dict[str, Any] = Field(max_length=50)
    # Required for an e-consult (clinician submitter); a patient submits for themself.
    patient_id: uuid.UUID | None = None
    controlled_substance: Schedule | None = None
    requester_minutes: int | None = Field(default=None, ge=1, le=600)


class ReportIn(Strict):
    findings: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)
    ]
    assessment: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)
    ]
    diagnosis_codes: list[Annotated[str, StringConstraints(max_length=8)]] = Field(
        default_factory=list, max_length=12
    )
    recommendation: Recommendation
    minutes: int | None = Field(default=None, ge=1, le=600)
    verbal_discussion: bool = False


class AmendmentIn(ReportIn):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=2000)]


class QuestionIn(Strict):
    question: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)
    ]


class AnswerIn(Strict):
    answer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8000)]


class ReasonOut(Strict):
    rule: str
    message: str
    citation: str


class MediaOut(Strict):
    id: uuid.UUID
    kind: str
    content_type: str
    filename: str
    size: int
    sha256: str
    upload_sha256: str
    created_at: datetime
    download: str


class InfoRequestOut(Strict):
    id: uuid.UUID
    question: str
    asked_at: datetime
    answer: str | None
    answered_at: datetime | None


class SignerOut(Strict):
    id: uuid.UUID
    name: str


class ReportOut(Strict):
    id: uuid.UUID
    seq: int
    kind: Literal["report", "amendment"]
    author_id: uuid.UUID
    findings: str
    assessment: str
    diagnosis_codes: list[str]
    recommendation: Recommendation
    minutes: int | None
    verbal_discussion: bool
    amendment_reason: str | None
    created_at: datetime
    signed_at: datetime | None
    # Who signed it; absent on a draft.
    signed_by: SignerOut | None = None


class LineOut(Strict):
    code: str
    modifiers: list[str]
    pos: str | None
    units: int
    rationale: str
    citation: str


class FindingOut(Strict):
    severity: str
    rule: str
    message: str
    citation: str


class BillingOut(Strict):
    role: Literal["reviewer", "consultant", "requester"]
    billing_clinician_id: uuid.UUID
    encounter: dict[str, Any]
    lines: list[LineOut]
    findings: list[FindingOut]
    codeset_revision: str


class CaseSummaryOut(Strict):
    id: uuid.UUID
    kind: CaseKind
    specialty: str
    urgency: Urgency
    status: CaseStatus
    location_state: str
    created_at: datetime
    submitted_at: datetime | None
    due_at: datetime | None
    overdue: bool


class CasePageOut(Strict):
    items: list[CaseSummaryOut]
    # Pass as ``cursor`` for the next page; absent on the last page.
    next_cursor: str | None


class CaseOut(Strict):
    id: uuid.UUID
    kind: CaseKind
    patient_id: uuid.UUID
    originator_id: uuid.UUID
    specialty: str
    reason: str
    urgency: Urgency
    acuity: str
    purpose: str
    location_state: str
    payer: str
    setting: str
    controlled_substance: str | None
    requester_minutes: int | None
    questionnaire: QuestionnaireRef
    answers: dict[str, Any]
    status: CaseStatus
    decision_id: uuid.UUID | None
    live_visit_reasons: list[ReasonOut] | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    due_at: datetime | None
    overdue: bool
    reviewer_id: uuid.UUID | None
    claim_expires_at: datetime | None
    signed_at: datetime | None
    can_claim: bool
    media: list[MediaOut]
    info_requests: list[InfoRequestOut]
    reports: list[ReportOut]
    billing: list[BillingOut]


class QuestionOut(Strict):
    id: str
    text: str
    type: str
    required: bool
    options: list[str]
    minimum: int | None
    maximum: int | None
    max_length: int


class QuestionnaireOut(Strict):
    id: str
    version: int
    title: str
    current: bool
    questions: list[QuestionOut]


class UploadOut(Strict):
    id: str
    length: int
    offset: int
    status: str
    expires_at: datetime
    media_id: uuid.UUID | None
