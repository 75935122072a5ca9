"""Store-and-forward actions: create and submit cases, route them, claim, ask, report, sign.

Every action takes a :class:`Scope`. Cases are reached only through the loaders at the top of
this module, which apply the access rules; a hidden case is reported exactly like a missing
one and the refusal is audited durably.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from telehealth.access import loader, rules
from telehealth.access import service as access
from telehealth.audit.model import Action, Outcome
from telehealth.clock import ensure_utc
from telehealth.coding.encounter import Encounter
from telehealth.coding.engine import code_encounter
from telehealth.config import ReviewSettings
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.identity import queries as identity_queries
from telehealth.identity import service as identity
from telehealth.identity.model import Actor, Role, Signer
from telehealth.notifications.service import notify
from telehealth.policy.clinicians import discipline_of
from telehealth.policy.service import decide_and_record
from telehealth.review import model, repository
from telehealth.review.model import CaseKind, CaseStatus, Recommendation
from telehealth.review.storage import ReviewStorage
from telehealth.review.tables import (
    ReviewBilling,
    ReviewCase,
    ReviewInfoRequest,
    ReviewMedia,
    ReviewReport,
)
from telehealth.scope import Scope

CASE = "review_case"
PAGE_LIMIT = 100


def review_storage(scope: Scope) -> ReviewStorage:
    return scope.ports.uploads


def review_settings(scope: Scope) -> ReviewSettings:
    return scope.settings.review


# --- loaders: the one place case access is decided ---------------------------------------------


def _status(case: ReviewCase) -> CaseStatus:
    return CaseStatus(case.status)


def _case(session: Session, case_id: uuid.UUID, _lock: bool) -> ReviewCase | None:
    return repository.case_by_id(session, case_id)


def _subject(case: ReviewCase) -> loader.Subject:
    named = {case.originator_id} | ({case.reviewer_id} if case.reviewer_id else set())
    return loader.Subject(case.org_id, case.patient_id, frozenset(named))


CASE_KIND = loader.register(loader.Kind(CASE, "case", _case, _subject))


_OfCase = TypeVar("_OfCase", ReviewMedia, ReviewReport, ReviewBilling)


def _with_case(session: Session, found: _OfCase | None) -> tuple[_OfCase, ReviewCase] | None:
    """An object of a case with its case, for a loader deciding on the case's subject."""
    case = None if found is None else repository.case_by_id(session, found.case_id)
    return None if found is None or case is None else (found, case)


def _media_with_case(
    session: Session, media_id: uuid.UUID, _lock: bool
) -> tuple[ReviewMedia, ReviewCase] | None:
    return _with_case(session, repository.media_by_id(session, media_id))


def _report_with_case(
    session: Session, report_id: uuid.UUID, _lock: bool
) -> tuple[ReviewReport, ReviewCase] | None:
    return _with_case(session, repository.report_by_id(session, report_id))


def _of_case(found: tuple[ReviewMedia | ReviewReport, ReviewCase]) -> loader.Subject:
    return _subject(found[1])


# A case's files and reports, reached by their own ids (the FHIR API), take the case's rule.
MEDIA_KIND = loader.register(loader.Kind("review_media", "media", _media_with_case, _of_case))
REPORT_KIND = loader.register(loader.Kind("review_report", "report", _report_with_case, _of_case))


def readable_case(scope: Scope, case_id: uuid.UUID) -> ReviewCase:
    """Originator, current or signing reviewer, and whoever may read the patient's record."""
    return loader.load(scope, CASE_KIND, case_id)


def originated_case(scope: Scope, case_id: uuid.UUID) -> ReviewCase:
    """Actions of the submitter: submitting, adding media, answering questions."""
    case = readable_case(scope, case_id)
    if case.originator_id != scope.require_actor().user_id:
        raise DomainError(ErrorCode.FORBIDDEN, "only the case's submitter may do this")
    return case


def _eligible(scope: Scope, actor: Actor, case: ReviewCase) -> bool:
    if actor.role is not Role.CLINICIAN or actor.org_id != case.org_id:
        return False
    profile = identity_queries.clinician_profile(scope.session, actor.user_id)
    if profile is None:
        return False
    return model.may_review(
        list(profile.specialties),
        _licenses(scope, actor.user_id),
        case.specialty,
        case.location_state,
        scope.clock.now().date(),
    )


def _licenses(scope: Scope, clinician_id: uuid.UUID) -> list[model.LicenseFact]:
    return [
        model.LicenseFact(lic.state, lic.kind, lic.expires_on)
        for lic in identity_queries.licenses_of(scope.session, clinician_id)
    ]


def claimable_case(scope: Scope, case_id: uuid.UUID) -> ReviewCase:
    """Eligible reviewers reach queued cases without being on the patient's care team."""
    actor = scope.require_actor()
    case = repository.case_by_id(scope.session, case_id)
    open_for_claims = case is not None and _status(case) in model.OPEN_REVIEW_STATES
    if case is not None and open_for_claims and _eligible(scope, actor, case):
        return case
    case = readable_case(scope, case_id)
    if not _eligible(scope, actor, case):
        raise DomainError(
            ErrorCode.FORBIDDEN,
            "claiming needs the case's specialty and a license in the patient's state",
        )
    return case


def worked_case(scope: Scope, case_id: uuid.UUID) -> ReviewCase:
    """A case the actor may read (else not found) and do a reviewer's work on (else refused,
    :func:`rules.work_case`), whatever its state."""
    return loader.load(
        scope,
        CASE_KIND,
        case_id,
        action=rules.work_case,
        refusal="only the case's clinicians work on it",
    )


def held_case(scope: Scope, case_id: uuid.UUID) -> ReviewCase:
    """Reviewer actions: the actor must hold a live claim on the case (else a conflict)."""
    case = worked_case(scope, case_id)
    actor = scope.require_actor()
    model.check_holder(
        _status(case), case.reviewer_id, _claim_end(case), actor.user_id, scope.clock.now()
    )
    return case


def _claim_end(case: ReviewCase) -> datetime | None:
    return ensure_utc(case.claim_expires_at) if case.claim_expires_at else None


def _flush(scope: Scope) -> None:
    try:
        scope.session.flush()
    except StaleDataError:
        raise DomainError(ErrorCode.CONFLICT, "the case changed meanwhile; reload it") from None


def _touch(scope: Scope, case: ReviewCase) -> None:
    case.updated_at = scope.clock.now()


# --- creating and submitting -----------------------------------------------------------------


@dataclass(frozen=True)
class CaseInput:
    specialty: str
    reason: str
    urgency: str
    acuity: str
    purpose: str
    location_state: str
    payer: str
    setting: str
    questionnaire_id: str
    questionnaire_version: int
    answers: dict[str, Any]
    patient_id: uuid.UUID | None = None
    controlled_substance_schedule: str | None = None
    requester_minutes: int | None = None


def _case_patient(scope: Scope, actor: Actor, requested: uuid.UUID | None) -> uuid.UUID:
    if actor.role is Role.PATIENT:
        if actor.patient_id is None or requested not in (None, actor.patient_id):
            raise not_found("patient")
        return actor.patient_id
    if actor.role is Role.CLINICIAN:
        if requested is None:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "an e-consult names its patient", field="patient_id"
            )
        patient = access.readable_patient(scope, requested)
        # The originator keeps reading the case (see _subject).
        access.require_standing_relationship(scope, patient, "an e-consult")
        return patient.id
    raise DomainError(ErrorCode.FORBIDDEN, "cases are submitted by patients or clinicians")


def create_case(scope: Scope, data: CaseInput) -> ReviewCase:
    actor = scope.require_actor()
    patient_id = _case_patient(scope, actor, data.patient_id)
    if data.specialty not in model.SPECIALTY_QUESTIONNAIRES:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "this specialty does not take store-and-forward cases",
            field="specialty",
        )
    if not model.questionnaire_fits(data.specialty, data.questionnaire_id):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "this questionnaire is not for that specialty",
            field="questionnaire",
        )
    form = model.questionnaire(data.questionnaire_id, data.questionnaire_version)
    answers = model.validate_answers(form, data.answers)
    kind = CaseKind.SELF_REFERRAL if actor.role is Role.PATIENT else CaseKind.ECONSULT
    patient = identity_queries.patient_by_id(scope.session, patient_id)
    assert patient is not None
    now = scope.clock.now()
    case = ReviewCase(
        org_id=patient.org_id,
        patient_id=patient_id,
        kind=kind.value,
        originator_id=actor.user_id,
        specialty=data.specialty,
        reason=data.reason.strip(),
        urgency=data.urgency,
        acuity=data.acuity,
        purpose=data.purpose,
        location_state=data.location_state,
        payer=data.payer,
        setting=data.setting,
        controlled_substance_schedule=data.controlled_substance_schedule,
        requester_minutes=data.requester_minutes if kind is CaseKind.ECONSULT else None,
        questionnaire_id=form.id,
        questionnaire_version=form.version,
        answers=answers,
        status=CaseStatus.DRAFT.value,
        established=False,
        created_at=now,
        updated_at=now,
    )
    scope.session.add(case)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE,
        CASE,
        case.id,
        patient_id=patient_id,
        detail={"kind": kind.value, "specialty": data.specialty},
    )
    return case


def submit_case(scope: Scope, case_id: uuid.UUID) -> ReviewCase:
    """Route the case: consult the decision engine, then queue it or ask for a live visit."""
    case = originated_case(scope, case_id)
    model.check_submittable(_status(case))
    _no_pending_uploads(scope, case)
    now = scope.clock.now()
    kind = CaseKind(case.kind)
    case.established = repository.has_care_team(scope.session, case.patient_id, scope.clock.now())
    decision, record = decide_and_record(
        scope, case_facts(scope, case, now.date()), patient_id=case.patient_id
    )
    routing = model.route(
        decision.model_dump(mode="json"), kind, case.controlled_substance_schedule is not None
    )
    case.decision_id = record.id
    case.submitted_at = now
    case.live_visit_reasons = routing.reasons if routing.live_visit else None
    if routing.live_visit:
        case.status = CaseStatus.NEEDS_LIVE_VISIT.value
        for coordinator in identity_queries.coordinators_of(scope.session, case.org_id):
            notify(
                scope,
                coordinator,
                kind="review_live_visit",
                title="A store-and-forward request needs a live visit",
                link=f"/review/cases/{case.id}",
            )
    else:
        case.status = CaseStatus.QUEUED.value
        case.due_at = now + review_settings(scope).turnaround(case.urgency)
    _touch(scope, case)
    _flush(scope)
    scope.audit.record(
        Action.UPDATE,
        CASE,
        case.id,
        patient_id=case.patient_id,
        detail={"step": "submit", "status": case.status},
    )
    return case


def _no_pending_uploads(scope: Scope, case: ReviewCase) -> None:
    # A case is never routed with half its files: finish or cancel uploads first.
    if repository.pending_uploads(scope.session, case.id):
        raise DomainError(ErrorCode.CONFLICT, "uploads for this case are still in progress")


# --- reading ---------------------------------------------------------------------------------


@dataclass
class CaseView:
    case: ReviewCase
    media: Sequence[ReviewMedia]
    info_requests: Sequence[ReviewInfoRequest]
    reports: Sequence[ReviewReport]
    billing: Sequence[ReviewBilling] = field(default_factory=list)
    # Who signed the signed reports and amendments, by author id.
    signers: Mapping[uuid.UUID, Signer] = field(default_factory=dict)
    # What this actor may do next, for clients and pages.
    can_claim: bool = False
    is_reviewer: bool = False
    is_originator: bool = False


def case_view(scope: Scope, case_id: uuid.UUID, *, record_read: bool = True) -> CaseView:
    """The case as this actor may see it: unsigned reports only for their author.

    ``record_read`` is off when the view answers an action that was itself audited.
    """
    case = readable_case(scope, case_id)
    actor = scope.require_actor()
    if record_read:
        scope.audit.record(Action.READ, CASE, case.id, patient_id=case.patient_id)
    reports = [
        r
        for r in repository.reports_of(scope.session, case.id)
        if r.signed_at is not None or r.author_id == actor.user_id
    ]
    billing = repository.billing_of(scope.session, case.id) if actor.is_staff else []
    status = _status(case)
    claimable = (
        status in model.OPEN_REVIEW_STATES
        and _eligible(scope, actor, case)
        and not (
            status is CaseStatus.CLAIMED
            and model.claim_is_live(_claim_end(case), scope.clock.now())
        )
    )
    return CaseView(
        case=case,
        media=repository.media_of(scope.session, case.id),
        info_requests=repository.info_requests_of(scope.session, case.id),
        reports=reports,
        billing=billing,
        signers=identity.signers(
            scope, (r.author_id for r in reports if r.signed_at is not None), case.specialty
        ),
        can_claim=claimable,
        is_reviewer=case.reviewer_id == actor.user_id,
        is_originator=case.originator_id == actor.user_id,
    )


def case_with_media(
    scope: Scope, case_id: uuid.UUID
) -> tuple[ReviewCase, Sequence[model.ShownMedia]]:
    """A case's answers and photos for a page that shows them beside another object (a visit's
    intake); read and audited as :func:`case_view` reads it, without reports or billing."""
    case = readable_case(scope, case_id)
    scope.audit.record(Action.READ, CASE, case.id, patient_id=case.patient_id)
    return case, repository.shown_media(scope.session, case.id)


QUEUE_NAMES = ("submitted", "mine", "overdue", "live_visit")


def uploads_pending(scope: Scope, case_id: uuid.UUID) -> bool:
    """Whether photos of a case (already reached through its loader) are still uploading."""
    return repository.pending_uploads(scope.session, case_id) > 0


def prior_reports(
    scope: Scope, patient_id: uuid.UUID, exclude: set[uuid.UUID] | None = None, limit: int = 20
) -> list[model.ShownReport]:
    """Signed store-and-forward reports of a patient the actor may read, newest first."""
    patient = access.readable_patient(scope, patient_id)
    found = [
        report
        for report in repository.latest_signed_reports(scope.session, patient.id, limit)
        if not (exclude and report.case_id in exclude)
    ]
    for report in found:
        scope.audit.record(
            Action.READ,
            CASE,
            report.case_id,
            patient_id=report.patient_id,
            detail={"via": "portal"},
        )
    return found


def list_cases(
    scope: Scope, queue: str | None, cursor: repository.Cursor | None, limit: int
) -> Sequence[ReviewCase]:
    """A queue: ``submitted`` (default: what I sent, or my own cases as a patient), ``mine``
    (cases I hold), ``overdue`` and ``live_visit`` (coordinators), or a specialty name (the
    claimable cases of that specialty in states where I am licensed)."""
    actor = scope.require_actor()
    limit = max(1, min(limit, PAGE_LIMIT))
    queue = queue or "submitted"
    if queue == "submitted":
        found = _submitted(scope, actor, limit)
    elif queue == "mine":
        found = repository.cases_reviewed_by(scope.session, actor.user_id, cursor, limit)
    elif queue in ("overdue", "live_visit"):
        found = _coordination_queue(scope, actor, queue, cursor, limit)
    else:
        # Queue entries carry no patient details; reading one happens after a claim.
        return _specialty_queue(scope, actor, queue, cursor, limit)
    for case in found:
        scope.audit.record(
            Action.READ, CASE, case.id, patient_id=case.patient_id, detail={"via": "list"}
        )
    return found


def _submitted(scope: Scope, actor: Actor, limit: int) -> Sequence[ReviewCase]:
    if actor.role is Role.PATIENT:
        if actor.patient_id is None:
            return []
        return repository.cases_of_patient(scope.session, actor.patient_id, limit, 0)
    return repository.cases_originated_by(scope.session, actor.user_id, limit, 0)


def _coordination_queue(
    scope: Scope, actor: Actor, queue: str, cursor: repository.Cursor | None, limit: int
) -> Sequence[ReviewCase]:
    access.require_org_manager(scope)
    if queue == "overdue":
        states = [s.value for s in model.OPEN_REVIEW_STATES]
        return repository.org_cases_in(
            scope.session, actor.org_id, states, scope.clock.now(), True, cursor, limit
        )
    return repository.org_cases_in(
        scope.session,
        actor.org_id,
        [CaseStatus.NEEDS_LIVE_VISIT.value],
        scope.clock.now(),
        False,
        None,
        limit,
    )


def _specialty_queue(
    scope: Scope, actor: Actor, specialty: str, cursor: repository.Cursor | None, limit: int
) -> Sequence[ReviewCase]:
    if specialty not in model.SPECIALTY_QUESTIONNAIRES:
        raise DomainError(ErrorCode.INVALID_INPUT, "unknown queue", field="queue")
    profile = (
        identity_queries.clinician_profile(scope.session, actor.user_id)
        if actor.role is Role.CLINICIAN
        else None
    )
    if profile is None or specialty not in profile.specialties:
        raise DomainError(ErrorCode.FORBIDDEN, "this queue is for clinicians of its specialty")
    states = model.licensed_states(_licenses(scope, actor.user_id), scope.clock.now().date())
    return repository.specialty_queue(scope.session, actor.org_id, specialty, states, cursor, limit)


# --- claiming --------------------------------------------------------------------------------


def claim_case(scope: Scope, case_id: uuid.UUID) -> ReviewCase:
    case = claimable_case(scope, case_id)
    actor = scope.require_actor()
    now = scope.clock.now()
    model.check_claimable(_status(case), case.reviewer_id, _claim_end(case), actor.user_id, now)
    expires = now + review_settings(scope).claim_length
    # One reviewer at a time: the update applies only if the case is still claimable, so two
    # concurrent claims cannot both win.
    result = scope.session.execute(
        update(ReviewCase)
        .where(ReviewCase.id == case.id, ReviewCase.version == case.version)
        .values(
            status=CaseStatus.CLAIMED.value,
            reviewer_id=actor.user_id,
            claimed_at=now,
            claim_expires_at=expires,
            updated_at=now,
            version=case.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise DomainError(ErrorCode.CONFLICT, "another reviewer claimed this case first")
    scope.session.refresh(case)
    scope.audit.record(
        Action.UPDATE, CASE, case.id, patient_id=case.patient_id, detail={"step": "claim"}
    )
    return case


def release_case(scope: Scope, case_id: uuid.UUID) -> ReviewCase:
    case = held_case(scope, case_id)
    _requeue(case)
    _touch(scope, case)
    _flush(scope)
    scope.audit.record(
        Action.UPDATE, CASE, case.id, patient_id=case.patient_id, detail={"step": "release"}
    )
    return case


def _requeue(case: ReviewCase) -> None:
    case.status = CaseStatus.QUEUED.value
    case.reviewer_id = None
    case.claimed_at = None
    case.claim_expires_at = None


# --- questions to the submitter ----------------------------------------------------------------


def request_info(scope: Scope, case_id: uuid.UUID, question: str) -> ReviewInfoRequest:
    case = held_case(scope, case_id)
    actor = scope.require_actor()
    now = scope.clock.now()
    asked = ReviewInfoRequest(
        case_id=case.id, asked_by=actor.user_id, question=question.strip(), asked_at=now
    )
    scope.session.add(asked)
    # The reviewer keeps the case while the submitter answers; the claim clock stops.
    case.status = CaseStatus.AWAITING_INFO.value
    case.claim_expires_at = None
    _touch(scope, case)
    _flush(scope)
    notify(
        scope,
        case.originator_id,
        kind="review_question",
        title="A reviewer has a question about your case",
        link=f"/review/cases/{case.id}",
    )
    scope.audit.record(Action.CREATE, "review_info_request", asked.id, patient_id=case.patient_id)
    return asked


def answer_info(scope: Scope, case_id: uuid.UUID, answer: str) -> ReviewInfoRequest:
    case = originated_case(scope, case_id)
    model.check_answerable(_status(case))
    asked = repository.open_info_request(scope.session, case.id)
    if asked is None:
        raise DomainError(ErrorCode.INVALID_STATE, "no question is waiting for an answer")
    _no_pending_uploads(scope, case)
    actor = scope.require_actor()
    now = scope.clock.now()
    asked.answer = answer.strip()
    asked.answered_by = actor.user_id
    asked.answered_at = now
    # Back to the same reviewer, with a fresh claim.
    case.status = CaseStatus.CLAIMED.value
    case.claim_expires_at = now + review_settings(scope).claim_length
    _touch(scope, case)
    _flush(scope)
    if case.reviewer_id is not None:
        notify(
            scope,
            case.reviewer_id,
            kind="review_answer",
            title="A question on a case you hold was answered",
            link=f"/review/cases/{case.id}",
        )
    scope.audit.record(Action.UPDATE, "review_info_request", asked.id, patient_id=case.patient_id)
    return asked


# --- reports ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportInput:
    findings: str
    assessment: str
    diagnosis_codes: list[str]
    recommendation: Recommendation
    minutes: int | None = None
    verbal_discussion: bool = False


def write_report(scope: Scope, case_id: uuid.UUID, data: ReportInput) -> ReviewReport:
    """Save the draft report; it may be rewritten until it is signed."""
    case = held_case(scope, case_id)
    actor = scope.require_actor()
    codes = model.check_diagnosis_codes(data.diagnosis_codes)
    now = scope.clock.now()
    draft = next((r for r in repository.reports_of(scope.session, case.id) if r.seq == 1), None)
    created = draft is None
    if draft is None:
        draft = ReviewReport(
            case_id=case.id, seq=1, kind="report", author_id=actor.user_id, created_at=now
        )
        scope.session.add(draft)
    draft.author_id = actor.user_id
    _fill(draft, data, codes, now)
    _touch(scope, case)
    _flush(scope)
    scope.audit.record(
        Action.CREATE if created else Action.UPDATE,
        "review_report",
        draft.id,
        patient_id=case.patient_id,
    )
    return draft


def _fill(report: ReviewReport, data: ReportInput, codes: list[str], now: datetime) -> None:
    report.findings = data.findings.strip()
    report.assessment = data.assessment.strip()
    report.diagnosis_codes = codes
    report.recommendation = data.recommendation.value
    report.minutes = data.minutes
    report.verbal_discussion = data.verbal_discussion
    report.updated_at = now


def sign_report(scope: Scope, case_id: uuid.UUID) -> ReviewReport:
    """Sign: the report is released to the submitter, billed, and can no longer change."""
    case = held_case(scope, case_id)
    draft = next((r for r in repository.reports_of(scope.session, case.id) if r.seq == 1), None)
    if draft is None:
        raise DomainError(ErrorCode.INVALID_STATE, "write the report before signing it")
    now = scope.clock.now()
    draft.signed_at = now
    case.status = CaseStatus.REPORTED.value
    case.signed_at = now
    case.claim_expires_at = None
    _touch(scope, case)
    lines = _bill(scope, case, draft)
    _flush(scope)
    notify(
        scope,
        case.originator_id,
        kind="review_report",
        title="A specialist report is ready",
        link=f"/review/cases/{case.id}",
    )
    scope.audit.record(
        Action.UPDATE,
        "review_report",
        draft.id,
        patient_id=case.patient_id,
        detail={"step": "sign", "billing_lines": lines},
    )
    return draft


def amend_report(scope: Scope, case_id: uuid.UUID, data: ReportInput, reason: str) -> ReviewReport:
    """Amendments are new signed rows after the original; nothing signed is overwritten."""
    case = worked_case(scope, case_id)
    actor = scope.require_actor()
    model.check_amendable(_status(case), case.reviewer_id, actor.user_id)
    codes = model.check_diagnosis_codes(data.diagnosis_codes)
    existing = repository.reports_of(scope.session, case.id)
    now = scope.clock.now()
    amendment = ReviewReport(
        case_id=case.id,
        seq=max(r.seq for r in existing) + 1,
        kind="amendment",
        author_id=actor.user_id,
        amendment_reason=reason.strip(),
        created_at=now,
        signed_at=now,
    )
    _fill(amendment, data, codes, now)
    scope.session.add(amendment)
    _touch(scope, case)
    _flush(scope)
    notify(
        scope,
        case.originator_id,
        kind="review_amendment",
        title="A specialist report was amended",
        link=f"/review/cases/{case.id}",
    )
    scope.audit.record(
        Action.CREATE,
        "review_report",
        amendment.id,
        patient_id=case.patient_id,
        detail={"kind": "amendment", "seq": amendment.seq},
    )
    return amendment


# --- billing ---------------------------------------------------------------------------------


def _encounters(
    case: ReviewCase, report: ReviewReport, has_media: bool, signed_on: datetime
) -> list[tuple[str, uuid.UUID, dict[str, Any]]]:
    """The encounter records a signed review produces, with the clinician each one bills for."""
    base: dict[str, Any] = {
        "date_of_service": signed_on.date().isoformat(),
        "payer": case.payer,
        "patient": {"location_state": case.location_state, "setting": case.setting},
    }
    reviewer = report.author_id
    if CaseKind(case.kind) is CaseKind.ECONSULT:
        consultant = {
            **base,
            "modality": "econsult",
            "service": {
                "kind": "econsult_consultant",
                "minutes": report.minutes or 5,
                "econsult_report": "verbal_and_written"
                if report.verbal_discussion
                else "written_only",
            },
            "source": {"kind": "econsult", "id": str(case.id)},
        }
        records = [("consultant", reviewer, consultant)]
        if case.requester_minutes:
            requester = {
                **base,
                "modality": "econsult",
                "service": {"kind": "econsult_requester", "minutes": case.requester_minutes},
                "source": {"kind": "econsult", "id": str(case.id)},
            }
            records.append(("requester", case.originator_id, requester))
        return records
    # Recorded images or video from the patient: remote evaluation of recorded media; a
    # questionnaire-only review is an online digital evaluation (e-visit).
    service: dict[str, Any] = (
        {"kind": "image_review", "new_patient": not case.established}
        if has_media
        else {
            "kind": "e_visit",
            "minutes": report.minutes or 5,
            "new_patient": not case.established,
        }
    )
    record = {
        **base,
        "modality": "async_store_and_forward",
        "service": service,
        "source": {"kind": "review", "id": str(case.id)},
    }
    return [("reviewer", reviewer, record)]


def _bill(scope: Scope, case: ReviewCase, report: ReviewReport) -> int:
    media = repository.media_of(scope.session, case.id)
    has_media = any(m.kind in (model.MediaKind.IMAGE, model.MediaKind.VIDEO) for m in media)
    codeset = scope.ports.codeset
    total = 0
    for role, clinician, raw in _encounters(case, report, has_media, scope.clock.now()):
        encounter = Encounter.model_validate(raw)
        result = code_encounter(encounter, codeset)
        scope.session.add(
            ReviewBilling(
                case_id=case.id,
                role=role,
                billing_clinician_id=clinician,
                encounter=encounter.model_dump(mode="json"),
                lines=[line.model_dump(mode="json") for line in result.lines],
                findings=[f.model_dump(mode="json") for f in result.findings],
                codeset_revision=result.codeset_revision[:80],
                created_at=scope.clock.now(),
            )
        )
        total += len(result.lines)
    return total


# --- media -----------------------------------------------------------------------------------


# Files up to this size are authenticated end to end (and matched against their recorded
# SHA-256) before the first byte is sent; larger ones are authenticated chunk by chunk as they
# stream, and a damaged chunk cuts the response short of its Content-Length.
VERIFY_BEFORE_SERVING = 32 * 1024 * 1024


def open_media(
    scope: Scope, case_id: uuid.UUID, media_id: uuid.UUID
) -> tuple[ReviewMedia, Iterator[bytes]]:
    """Decrypted content of one file of the case, audited as a download.

    Damaged or substituted ciphertext is refused with an error, never served as content.
    """
    case = readable_case(scope, case_id)
    media = repository.media_by_id(scope.session, media_id)
    if media is None or media.case_id != case.id:
        access.record_denial(scope, "review_media", media_id)
        raise not_found("media")
    blobs = review_storage(scope).blobs
    try:
        if media.size <= VERIFY_BEFORE_SERVING:
            size, digest = blobs.verify(media.blob_id)
            if (size, digest) != (media.size, media.sha256):
                raise DomainError(ErrorCode.INTEGRITY_ERROR, "stored file failed verification")
            stream = blobs.open(media.blob_id)
        else:
            stream = _prefetched(blobs.open(media.blob_id))
    except DomainError as exc:
        scope.audit.record(
            Action.DOWNLOAD,
            "review_media",
            media.id,
            patient_id=case.patient_id,
            outcome=Outcome.FAILURE,
            detail={"error": exc.code.value},
            durable=True,
        )
        raise
    scope.audit.record(Action.DOWNLOAD, "review_media", media.id, patient_id=case.patient_id)
    return media, stream


def _prefetched(stream: Iterator[bytes]) -> Iterator[bytes]:
    """Authenticate the first chunk now, so a damaged start is an error and not a response."""
    first = next(stream, b"")

    def content() -> Iterator[bytes]:
        yield first
        yield from stream

    return content()


# --- background work -------------------------------------------------------------------------


def escalate_overdue(scope: Scope, limit: int = 200) -> int:
    """Tell every coordinator of the organization about cases past their turnaround target."""
    now = scope.clock.now()
    handled = 0
    for case in repository.overdue_unescalated(scope.session, now, limit):
        case.escalated_at = now
        for coordinator in identity_queries.coordinators_of(scope.session, case.org_id):
            notify(
                scope,
                coordinator,
                kind="review_overdue",
                title="A store-and-forward case is past its due time",
                link=f"/review/cases/{case.id}",
            )
        _record_job_step(scope, case, "escalate")
        handled += 1
    _flush(scope)
    return handled


def _record_job_step(scope: Scope, case: ReviewCase, step: str) -> None:
    """Audits a change a background job made to a case (no user acted)."""
    scope.audit.record(
        Action.UPDATE,
        CASE,
        case.id,
        patient_id=case.patient_id,
        org_id=case.org_id,
        actor_role="system",
        detail={"step": step},
    )


def release_lapsed_claims(scope: Scope, limit: int = 500) -> int:
    now = scope.clock.now()
    handled = 0
    for case in repository.lapsed_claims(scope.session, now, limit):
        _requeue(case)
        case.updated_at = now
        _record_job_step(scope, case, "claim_lapsed")
        handled += 1
    _flush(scope)
    return handled


def open_cases_of_org(scope: Scope) -> Sequence[ReviewCase]:
    """The coordinator's or administrator's organization's open cases, audited as a list."""
    actor = access.require_org_manager(scope)
    cases = repository.open_cases_of_org(scope.session, actor.org_id)
    access.record_listed(
        scope,
        CASE,
        [access.Listed(c.id, c.patient_id, frozenset({c.originator_id})) for c in cases],
    )
    return cases


def case_facts(scope: Scope, case: ReviewCase, on: date) -> dict[str, Any]:
    """The decision engine's facts for an open case, as if it were reviewed on ``on`` (by its
    reviewer's discipline once claimed)."""
    reviewer = case.reviewer_id
    return model.decision_facts(
        model.RoutingFacts(
            kind=CaseKind(case.kind),
            date_of_service=on,
            specialty=case.specialty,
            acuity=case.acuity,
            purpose=case.purpose,
            location_state=case.location_state,
            payer=case.payer,
            setting=case.setting,
            established=case.established,
            controlled_substance_schedule=case.controlled_substance_schedule,
            discipline=discipline_of(scope.session, reviewer) if reviewer is not None else None,
        )
    )


# --- reads by a file's or report's own id, and searches (the FHIR API) ----------------------


def readable_media(scope: Scope, media_id: uuid.UUID) -> tuple[ReviewMedia, ReviewCase]:
    """A file with its case, if the actor may read the case (else not found, as missing)."""
    return loader.load(scope, MEDIA_KIND, media_id)


def signed_report(scope: Scope, report_id: uuid.UUID) -> tuple[ReviewCase, list[ReviewReport]]:
    """A case's signed report, by the id of its first version, with the signed amendments
    after it, oldest first. A draft is nobody's to read this way: it is not found, exactly
    like a missing report (its author reads it on the case)."""
    report, case = loader.load(scope, REPORT_KIND, report_id)
    if report.seq != 1 or report.signed_at is None:
        loader.deny(scope, "review_report", report_id, None)
        raise not_found("report")
    return _signed_reports(scope, [case])[0]


def _signed_reports(
    scope: Scope, cases: Sequence[ReviewCase]
) -> list[tuple[ReviewCase, list[ReviewReport]]]:
    """Each case with its signed reports, oldest first, read in one query."""
    found = repository.reports_of_cases(scope.session, [case.id for case in cases])
    return [
        (case, [r for r in found.get(case.id, []) if r.signed_at is not None]) for case in cases
    ]


def _reachable(scope: Scope, query: model.CaseQuery) -> model.CaseQuery | None:
    """The search narrowed to what the actor may read: a patient's own cases; a staff member's
    cases of the patients asked for that they may read or, asking for none, the cases of their
    organization naming them (originated or reviewed). None when nothing is reachable."""
    actor = scope.require_actor()
    if actor.role is Role.PATIENT:
        own = actor.patient_id
        asked = query.patient_ids
        if own is None or (asked is not None and own not in asked):
            return None
        return replace(query, patient_ids=[own], named=None, org_id=None)
    if query.patient_ids is None:
        return replace(query, named=actor.user_id, org_id=actor.org_id)
    readable = [p for p in query.patient_ids if access.patient_if_readable(scope, p) is not None]
    return replace(query, patient_ids=readable) if readable else None


def search_cases(
    scope: Scope, query: model.CaseQuery, limit: int, offset: int
) -> Sequence[ReviewCase]:
    """Cases of a search the actor may read, newest first; the caller audits what it shows."""
    reachable = _reachable(scope, query)
    if reachable is None:
        return []
    return repository.find_cases(scope.session, reachable, limit, offset)


def search_reports(
    scope: Scope, query: model.CaseQuery, limit: int, offset: int
) -> list[tuple[ReviewCase, list[ReviewReport]]]:
    """Reported cases of a search the actor may read with their signed reports (oldest
    first), the most recently first-signed first."""
    return _signed_reports(scope, _reported_cases(scope, query, limit, offset))


def _reported_cases(
    scope: Scope, query: model.CaseQuery, limit: int, offset: int
) -> Sequence[ReviewCase]:
    """Reported cases of a search the actor may read, the most recently first-signed first."""
    reachable = _reachable(scope, replace(query, statuses=[CaseStatus.REPORTED.value]))
    if reachable is None:
        return []
    return repository.find_cases(scope.session, reachable, limit, offset, newest_signed=True)


def search_media(
    scope: Scope,
    query: model.CaseQuery,
    media_ids: Sequence[uuid.UUID] | None,
    kinds: Sequence[str] | None,
    added: tuple[datetime | None, datetime | None],
    limit: int,
    offset: int,
) -> Sequence[tuple[ReviewMedia, ReviewCase]]:
    """Files of a search's cases the actor may read, newest first, each with its case."""
    reachable = _reachable(scope, query)
    if reachable is None:
        return []
    return repository.find_media(scope.session, reachable, media_ids, kinds, added, limit, offset)


def named_on(case: ReviewCase) -> frozenset[uuid.UUID]:
    """The users a case names as working on it (its access subject's)."""
    return _subject(case).named


def media_ids(scope: Scope, case: ReviewCase) -> list[uuid.UUID]:
    """The ids of a case's files (the case already reached through its loader)."""
    return [m.id for m in repository.media_of(scope.session, case.id)]


def billing_record(
    session: Session, billing_id: uuid.UUID
) -> tuple[ReviewBilling, ReviewCase] | None:
    """A billing record with its case, for a loader of billing lines (which decides access
    by the case's subject, :func:`case_subject`)."""
    return _with_case(session, repository.billing_by_id(session, billing_id))


def case_subject(case: ReviewCase) -> loader.Subject:
    """What access reads off a case (for objects of the case that take its rule)."""
    return _subject(case)


def search_billing(
    scope: Scope, query: model.CaseQuery, limit: int, offset: int
) -> list[tuple[ReviewCase, Sequence[ReviewBilling]]]:
    """Billed (reported) cases of a search the actor may read with their billing records, the
    most recently signed first; none for a patient (billing is staff's, as on the case)."""
    if not scope.require_actor().is_staff:
        return []
    cases = _reported_cases(scope, query, limit, offset)
    found = repository.billing_of_cases(scope.session, [case.id for case in cases])
    return [(case, found.get(case.id, [])) for case in cases]
