"""Pure rules of store-and-forward review: case states, who may do what, and questionnaires.

Nothing here touches the database, the web framework or settings: the service gathers facts,
these functions decide.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from telehealth.errors import DomainError, ErrorCode


class CaseKind(StrEnum):
    SELF_REFERRAL = "self_referral"  # a patient asks a specialist directly
    ECONSULT = "econsult"  # a referring clinician asks a specialist


class CaseStatus(StrEnum):
    DRAFT = "draft"  # created, media may still be added; not yet routed
    NEEDS_LIVE_VISIT = "needs_live_visit"  # the rules require a synchronous visit instead
    QUEUED = "queued"  # waiting in its specialty queue
    CLAIMED = "claimed"  # one reviewer holds it until the claim lapses
    AWAITING_INFO = "awaiting_info"  # the reviewer asked the originator a question
    REPORTED = "reported"  # a signed report exists; amendments may follow


class Urgency(StrEnum):
    URGENT = "urgent"
    ROUTINE = "routine"


class Recommendation(StrEnum):
    NO_ACTION = "no_action"
    SELF_CARE = "self_care"
    CONVERT_TO_LIVE_VISIT = "convert_to_live_visit"
    IN_PERSON_REFERRAL = "in_person_referral"
    PRESCRIPTION = "prescription"


# How staff read a recommendation, and the sentence a patient reads it as.
RECOMMENDATION_LABELS: Mapping[Recommendation, str] = {
    Recommendation.NO_ACTION: "No further action",
    Recommendation.SELF_CARE: "Self-care",
    Recommendation.CONVERT_TO_LIVE_VISIT: "Live video or phone visit",
    Recommendation.IN_PERSON_REFERRAL: "In-person referral",
    Recommendation.PRESCRIPTION: "Prescription",
}
RECOMMENDATION_SENTENCES: Mapping[Recommendation, str] = {
    Recommendation.NO_ACTION: "The specialist found nothing that needs more care.",
    Recommendation.SELF_CARE: "You can look after this at home as the specialist describes.",
    Recommendation.CONVERT_TO_LIVE_VISIT: (
        "The specialist would like to talk with you by video or phone. "
        "Our team will contact you to arrange it."
    ),
    Recommendation.IN_PERSON_REFERRAL: (
        "The specialist recommends that you see a clinician in person. "
        "Our team will help you arrange it."
    ),
    Recommendation.PRESCRIPTION: "The specialist recommends a medicine for this problem.",
}


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    DOCUMENT = "document"
    OBSERVATION = "observation"


# Specialties that take store-and-forward cases, and the questionnaire each uses by default.
SPECIALTY_QUESTIONNAIRES: Mapping[str, str] = {
    "dermatology": "dermatology_lesion",
    "radiology": "general_intake",
    "pathology": "general_intake",
    "ophthalmology": "general_intake",
    "cardiology": "general_intake",
    "primary_care": "general_intake",
}
# Escalations of overdue cases and expired claims look only at these states.
OPEN_REVIEW_STATES = (CaseStatus.QUEUED, CaseStatus.CLAIMED)
ICD10 = re.compile(r"^[A-TV-Z][0-9][0-9AB](?:\.[0-9A-TV-Z]{1,4})?$")


# --- transitions ---------------------------------------------------------------------------


def _state_error(message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_STATE, message)


def claim_is_live(claim_expires_at: datetime | None, now: datetime) -> bool:
    return claim_expires_at is not None and claim_expires_at > now


def check_submittable(status: CaseStatus) -> None:
    if status is not CaseStatus.DRAFT:
        raise _state_error("the case has already been submitted")


def check_claimable(
    status: CaseStatus,
    reviewer_id: uuid.UUID | None,
    claim_expires_at: datetime | None,
    actor_id: uuid.UUID,
    now: datetime,
) -> None:
    """A queued case, or one whose claim lapsed, may be claimed: one reviewer at a time."""
    if status is CaseStatus.QUEUED:
        return
    if status is CaseStatus.CLAIMED:
        if reviewer_id == actor_id and claim_is_live(claim_expires_at, now):
            raise DomainError(ErrorCode.CONFLICT, "you already hold this case")
        if not claim_is_live(claim_expires_at, now):
            return
        raise DomainError(ErrorCode.CONFLICT, "another reviewer holds this case")
    raise _state_error(f"a case in state {status.value} cannot be claimed")


def check_holder(
    status: CaseStatus,
    reviewer_id: uuid.UUID | None,
    claim_expires_at: datetime | None,
    actor_id: uuid.UUID,
    now: datetime,
) -> None:
    """Actions of the reviewer need a live claim held by the actor."""
    if status is not CaseStatus.CLAIMED:
        raise _state_error(f"a case in state {status.value} is not under review")
    if reviewer_id != actor_id:
        raise DomainError(ErrorCode.CONFLICT, "another reviewer holds this case")
    if not claim_is_live(claim_expires_at, now):
        raise DomainError(ErrorCode.CONFLICT, "your claim has lapsed; claim the case again")


def check_answerable(status: CaseStatus) -> None:
    if status is not CaseStatus.AWAITING_INFO:
        raise _state_error("no question is waiting for an answer")


def check_media_open(status: CaseStatus) -> None:
    """Media may be added while the case is a draft, or to answer a reviewer's question."""
    if status not in (CaseStatus.DRAFT, CaseStatus.AWAITING_INFO):
        raise _state_error(f"media cannot be added to a case in state {status.value}")


def check_amendable(status: CaseStatus, signer_id: uuid.UUID | None, actor_id: uuid.UUID) -> None:
    if status is not CaseStatus.REPORTED:
        raise _state_error("only a signed report can be amended")
    if signer_id != actor_id:
        raise DomainError(ErrorCode.FORBIDDEN, "only the signing reviewer may amend the report")


# --- reviewer eligibility -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShownMedia:
    """A case's photo or document as pages list it beside another object (a visit's intake)."""

    id: uuid.UUID
    kind: str
    filename: str
    size: int


@dataclass(frozen=True, slots=True)
class ShownReport:
    """A reported case's latest signed report as a page lists it beside another object."""

    case_id: uuid.UUID
    specialty: str
    patient_id: uuid.UUID
    signed_at: datetime
    assessment: str
    recommendation: str


@dataclass(frozen=True, slots=True)
class LicenseFact:
    state: str
    kind: str
    expires_on: date | None


def licensed_states(licenses: list[LicenseFact], today: date) -> frozenset[str]:
    """States where a license (full, compact privilege or telehealth registration) is current."""
    return frozenset(
        lic.state for lic in licenses if lic.expires_on is None or lic.expires_on >= today
    )


def may_review(
    specialties: list[str],
    licenses: list[LicenseFact],
    specialty: str,
    location_state: str,
    today: date,
) -> bool:
    """Only a clinician of the case's specialty licensed where the patient is may review it."""
    return specialty in specialties and location_state in licensed_states(licenses, today)


def check_diagnosis_codes(codes: list[str]) -> list[str]:
    cleaned = [code.strip().upper() for code in codes]
    for index, code in enumerate(cleaned):
        if not ICD10.match(code):
            raise DomainError(
                ErrorCode.INVALID_INPUT, "not an ICD-10-CM code", field=f"diagnosis_codes.{index}"
            )
    if len(set(cleaned)) != len(cleaned):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "diagnosis codes repeat", field="diagnosis_codes"
        )
    return cleaned


# --- file names ---------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_filename(raw: str | None, fallback: str) -> str:
    """A display name only (never a path): no directories, controls or bidi marks; 120 chars."""
    name = unicodedata.normalize("NFKC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE_NAME.sub("_", name).strip(" .")
    return name[:120] or fallback


# --- questionnaires -----------------------------------------------------------------------


class QuestionType(StrEnum):
    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"
    TEXT = "text"
    INTEGER = "integer"
    BOOLEAN = "boolean"


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    type: QuestionType
    required: bool = True
    options: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int = 2000


@dataclass(frozen=True, slots=True)
class Questionnaire:
    id: str
    version: int
    title: str
    questions: tuple[Question, ...]
    # A superseded version still validates answers given under it, but new cases use the latest.
    current: bool = True

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)


BODY_SITES = (
    "face",
    "scalp",
    "neck",
    "chest",
    "back",
    "abdomen",
    "arm",
    "hand",
    "leg",
    "foot",
    "genital",
    "other",
)
DURATIONS = ("under_1_week", "1_to_4_weeks", "1_to_6_months", "6_to_12_months", "over_1_year")
SYMPTOMS = ("itch", "pain", "bleeding", "crusting", "oozing", "none")
ONSETS = ("today", "this_week", "this_month", "longer")

_DERM_V1 = (
    Question(
        "body_site",
        "Where on the body is the spot or rash?",
        QuestionType.CHOICE,
        options=BODY_SITES,
    ),
    Question("duration", "How long have you had it?", QuestionType.CHOICE, options=DURATIONS),
    Question("changed", "Has it changed in size, shape or colour?", QuestionType.BOOLEAN),
    Question(
        "change_details", "If it changed, how?", QuestionType.TEXT, required=False, max_length=1000
    ),
    Question(
        "symptoms", "Which symptoms do you have?", QuestionType.MULTI_CHOICE, options=SYMPTOMS
    ),
)
_DERM_V2 = (
    *_DERM_V1,
    Question(
        "lesion_count",
        "How many spots like this do you have?",
        QuestionType.INTEGER,
        minimum=1,
        maximum=100,
    ),
    Question(
        "family_history_melanoma",
        "Has a close relative had melanoma?",
        QuestionType.BOOLEAN,
        required=False,
    ),
)
_GENERAL_V1 = (
    Question("chief_complaint", "What is the main problem?", QuestionType.TEXT, max_length=2000),
    Question("onset", "When did it start?", QuestionType.CHOICE, options=ONSETS),
    Question("medications", "Which medicines do you take?", QuestionType.TEXT, required=False),
    Question("allergies", "Any allergies?", QuestionType.TEXT, required=False),
    Question(
        "pain_score",
        "Pain from 0 (none) to 10 (worst)",
        QuestionType.INTEGER,
        required=False,
        minimum=0,
        maximum=10,
    ),
)

QUESTIONNAIRES: Mapping[tuple[str, int], Questionnaire] = {
    ("dermatology_lesion", 1): Questionnaire(
        "dermatology_lesion", 1, "Skin lesion history", _DERM_V1, current=False
    ),
    ("dermatology_lesion", 2): Questionnaire(
        "dermatology_lesion", 2, "Skin lesion history", _DERM_V2
    ),
    ("general_intake", 1): Questionnaire("general_intake", 1, "General intake", _GENERAL_V1),
}


def latest_questionnaires() -> list[Questionnaire]:
    return [q for q in QUESTIONNAIRES.values() if q.current]


def questionnaire(questionnaire_id: str, version: int) -> Questionnaire:
    found = QUESTIONNAIRES.get((questionnaire_id, version))
    if found is None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "unknown questionnaire or version", field="questionnaire"
        )
    return found


def questionnaire_fits(specialty: str, questionnaire_id: str) -> bool:
    """A specialty's own questionnaire, or the general intake, which fits every specialty."""
    return questionnaire_id in ("general_intake", SPECIALTY_QUESTIONNAIRES.get(specialty))


def _invalid(question_id: str, message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field=f"answers.{question_id}")


def _check_answer(question: Question, value: Any) -> Any:
    kind = question.type
    if kind is QuestionType.BOOLEAN:
        if not isinstance(value, bool):
            raise _invalid(question.id, "must be true or false")
        return value
    if kind is QuestionType.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(question.id, "must be a whole number")
        low = question.minimum if question.minimum is not None else value
        high = question.maximum if question.maximum is not None else value
        if not low <= value <= high:
            raise _invalid(question.id, f"must be between {low} and {high}")
        return value
    if kind is QuestionType.TEXT:
        if not isinstance(value, str) or not value.strip():
            raise _invalid(question.id, "must be non-empty text")
        if len(value) > question.max_length:
            raise _invalid(question.id, f"must be at most {question.max_length} characters")
        return value.strip()
    if kind is QuestionType.CHOICE:
        if value not in question.options:
            raise _invalid(question.id, "is not one of the offered options")
        return value
    if not isinstance(value, list) or not value or any(v not in question.options for v in value):
        raise _invalid(question.id, "must be a non-empty list of the offered options")
    if len(set(value)) != len(value):
        raise _invalid(question.id, "lists an option twice")
    return list(value)


def validate_answers(form: Questionnaire, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Answers checked against the exact version they were given under.

    An answer to a question that version does not ask (for example one only a later version
    has) is refused rather than silently dropped.
    """
    unknown = sorted(key for key in answers if form.question(key) is None)
    if unknown:
        raise _invalid(unknown[0], f"is not a question of {form.id} version {form.version}")
    cleaned: dict[str, Any] = {}
    for question in form.questions:
        if question.id not in answers or answers[question.id] is None:
            if question.required:
                raise _invalid(question.id, "is required")
            continue
        cleaned[question.id] = _check_answer(question, answers[question.id])
    return cleaned


# --- routing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoutingFacts:
    """What routing knows about a case when it is submitted; nothing identifies the patient."""

    kind: CaseKind
    date_of_service: date
    specialty: str
    acuity: str
    purpose: str
    location_state: str
    payer: str
    setting: str
    established: bool
    controlled_substance_schedule: str | None
    # The reviewer's recorded discipline once a reviewer has claimed the case; None before
    # (or when not recorded), and the engine infers it from the specialty.
    discipline: str | None = None


def review_modality(kind: CaseKind) -> str:
    return "econsult" if kind is CaseKind.ECONSULT else "async_store_and_forward"


def decision_facts(facts: RoutingFacts) -> dict[str, Any]:
    """The decision engine's facts for a prospective reviewer: a clinician of the case's
    specialty licensed in the patient's state (the only clinicians who may claim it), of the
    claiming reviewer's discipline once there is one."""
    encounter: dict[str, Any] = {
        "specialty": facts.specialty,
        "acuity": facts.acuity,
        "purpose": facts.purpose,
    }
    if facts.controlled_substance_schedule:
        encounter["controlled_substance"] = {"schedule": facts.controlled_substance_schedule}
    return {
        "date_of_service": facts.date_of_service.isoformat(),
        "patient": {
            "location_state": facts.location_state,
            "setting": facts.setting,
            "payer": facts.payer,
            "established": facts.established,
            "last_in_person_visit": None,
            "video_capable": True,
            "consents_to_video": True,
        },
        "clinician": {
            "licenses": [{"state": facts.location_state, "kind": "full"}],
            "dea_registrations": [],
            "specialty": facts.specialty,
            "video_capable": True,
            "discipline": facts.discipline,
        },
        "encounter": encounter,
    }


@dataclass(frozen=True, slots=True)
class Routing:
    live_visit: bool
    reasons: list[dict[str, str]]


def route(decision: Mapping[str, Any], kind: CaseKind, wants_controlled: bool) -> Routing:
    """Queue the case unless the rules forbid reviewing it asynchronously.

    A controlled-substance request also needs a live visit when the decision does not permit
    prescribing on the review's modality (Ryan Haight: asynchronous care does not suffice).
    """
    modality = review_modality(kind)
    assessment = decision["modalities"][modality]
    reasons = [
        {"rule": r["rule"], "message": r["message"], "citation": r["citation"]}
        for r in assessment["reasons"]
    ]
    if assessment["status"] == "not_allowed":
        return Routing(True, reasons)
    if wants_controlled:
        prescribing = decision.get("prescribing") or {}
        if prescribing.get(modality) != "permitted":
            return Routing(True, reasons)
    return Routing(False, reasons)


@dataclass(frozen=True)
class CaseQuery:
    """Which cases a search reaches: of these patients, or (with no patients) those naming
    ``named`` as originator or reviewer in organization ``org_id``; narrowed by the rest.
    Every time range is half-open (``start <= t < end``)."""

    patient_ids: Sequence[uuid.UUID] | None = None
    named: uuid.UUID | None = None
    org_id: uuid.UUID | None = None
    ids: Sequence[uuid.UUID] | None = None
    statuses: Sequence[str] | None = None
    originators: Sequence[uuid.UUID] | None = None
    reviewers: Sequence[uuid.UUID] | None = None
    created: tuple[datetime | None, datetime | None] = (None, None)
    signed: tuple[datetime | None, datetime | None] = (None, None)
    # Whether the case's report has signed amendments (None: either).
    amended: bool | None = None
    # Cases whose report (its first version) has one of these ids.
    report_ids: Sequence[uuid.UUID] | None = None
