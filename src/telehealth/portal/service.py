"""Portal actions: role dashboards, the hybrid pre-visit intake, the visit's side panel and
decision explanations.

The portal owns one object, the visit intake; everything else is read and changed through the
capabilities' own services (never their repositories or tables), so their access rules and
audit events apply unchanged. An intake is reached only through its visit's loader
(``visits.access.readable_visit``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from telehealth.access import loader
from telehealth.access import service as access
from telehealth.audit.model import Action
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.identity import service as identity
from telehealth.identity.model import Actor, PatientBanner, Role
from telehealth.monitoring import service as monitoring
from telehealth.notifications.service import notify
from telehealth.policy import service as policy
from telehealth.policy.plain import PatientSummary, patient_summary
from telehealth.portal import repository
from telehealth.portal.tables import VisitIntake
from telehealth.review import model as review_model
from telehealth.review import service as review
from telehealth.scope import Scope
from telehealth.visits import access as visit_access
from telehealth.visits import model as visits_model
from telehealth.visits import waiting_room

if TYPE_CHECKING:
    from telehealth.review.tables import ReviewCase
    from telehealth.visits.tables import Visit

INTAKE = "visit_intake"
INTAKE_SPECIALTY = "primary_care"


# --- the pre-visit intake -----------------------------------------------------------------------


def _intake(
    session: Session, intake_id: uuid.UUID, _lock: bool
) -> tuple[VisitIntake, Visit] | None:
    intake = repository.intake_by_id(session, intake_id)
    visit = visit_access.visit_row(session, intake.visit_id) if intake is not None else None
    return None if intake is None or visit is None else (intake, visit)


def _intake_subject(found: tuple[VisitIntake, Visit]) -> loader.Subject:
    return visit_access.visit_subject(found[1])


# An intake by its own id, reached as its visit is: the visit's facts and rule.
INTAKE_KIND = loader.register(loader.Kind(INTAKE, "intake", _intake, _intake_subject))


def intake_form(visit: Visit) -> review_model.Questionnaire:
    """The visit's specialty questionnaire when it has one, else the general intake."""
    specialty = intake_specialty(visit)
    form_id = review_model.SPECIALTY_QUESTIONNAIRES[specialty]
    return next(q for q in review_model.latest_questionnaires() if q.id == form_id)


def intake_specialty(visit: Visit) -> str:
    wanted = (visit.intake or {}).get("specialty")
    if isinstance(wanted, str) and wanted in review_model.SPECIALTY_QUESTIONNAIRES:
        return wanted
    return INTAKE_SPECIALTY


def start_intake(
    scope: Scope, visit_id: uuid.UUID, reason: str, answers: dict[str, Any]
) -> VisitIntake:
    """Creates the intake case (a draft the patient adds photos to) and links it to the visit."""
    visit = visit_access.patients_own_visit(scope, visit_id)
    actor = scope.require_actor()
    if visit.status != visits_model.VisitStatus.BOOKED.value:
        raise DomainError(ErrorCode.INVALID_STATE, "the intake is filled in before the visit")
    if repository.intake_of_visit(scope.session, visit.id) is not None:
        raise DomainError(ErrorCode.ALREADY_EXISTS, "this visit already has an intake")
    form = intake_form(visit)
    stored = visit.intake or {}
    case = review.create_case(
        scope,
        review.CaseInput(
            specialty=intake_specialty(visit),
            reason=reason,
            urgency="routine",
            acuity=str(stored.get("acuity") or "routine"),
            purpose=str(stored.get("purpose") or "follow_up"),
            location_state=visit.located_state,
            payer=str(stored.get("payer") or "commercial"),
            setting=str(stored.get("setting") or "home"),
            questionnaire_id=form.id,
            questionnaire_version=form.version,
            answers=answers,
        ),
    )
    intake = VisitIntake(
        visit_id=visit.id,
        case_id=case.id,
        patient_id=visit.patient_id,
        created_by=actor.user_id,
        created_at=scope.clock.now(),
    )
    scope.session.add(intake)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE,
        INTAKE,
        intake.id,
        patient_id=visit.patient_id,
        detail={"visit_id": str(visit.id)},
    )
    return intake


def complete_intake(scope: Scope, visit_id: uuid.UUID) -> VisitIntake:
    """The patient sends the intake to the visit's clinician; it can no longer change."""
    visit = visit_access.patients_own_visit(scope, visit_id)
    intake = repository.intake_of_visit(scope.session, visit.id)
    if intake is None:
        raise not_found("intake")
    if intake.completed_at is not None:
        raise DomainError(ErrorCode.INVALID_STATE, "the intake has already been sent")
    if review.uploads_pending(scope, intake.case_id):
        raise DomainError(ErrorCode.CONFLICT, "photos are still uploading")
    intake.completed_at = scope.clock.now()
    scope.audit.record(
        Action.UPDATE, INTAKE, intake.id, patient_id=visit.patient_id, detail={"step": "complete"}
    )
    notify(
        scope,
        visit.clinician_id,
        kind="visit_intake",
        title="A pre-visit intake is ready",
        link=f"/portal/visits/{visit.id}/intake",
    )
    return intake


@dataclass(frozen=True)
class IntakeAnswers:
    """A visit's intake with what its answers need: the visit, the intake's case (reason,
    answers, the questionnaire version they were given under) and that questionnaire."""

    intake: VisitIntake
    visit: Visit
    case: ReviewCase
    form: review_model.Questionnaire


def _answers(scope: Scope, visit: Visit, intake: VisitIntake) -> IntakeAnswers:
    case = review.readable_case(scope, intake.case_id)
    form = review_model.questionnaire(case.questionnaire_id, case.questionnaire_version)
    return IntakeAnswers(intake, visit, case, form)


def intake_answers(scope: Scope, intake_id: uuid.UUID) -> IntakeAnswers:
    """An intake by its id, decided on by its visit's rule (:data:`INTAKE_KIND`): an intake of
    a visit the actor may not read is not found, exactly as a missing one. Not audited here:
    the caller records the read of what it shows (the FHIR API's QuestionnaireResponse)."""
    intake, visit = loader.load(scope, INTAKE_KIND, intake_id)
    return _answers(scope, visit, intake)


def intakes_of_visits(scope: Scope, visits: Sequence[Visit]) -> list[IntakeAnswers]:
    """The intakes of visits the caller reached through the visits' loader or list, in the
    visits' order (visits without one left out). Not audited here, as :func:`intake_answers`."""
    found = repository.intakes_of_visits(scope.session, [v.id for v in visits])
    out: list[IntakeAnswers] = []
    for visit in visits:
        if visit.id not in found:
            continue
        try:
            out.append(_answers(scope, visit, found[visit.id]))
        except DomainError as exc:
            # A visit's reader who may not read its intake's case (a clinician named on the
            # visit whose care has ended) is not shown the intake.
            if exc.code is not ErrorCode.NOT_FOUND:
                raise
    return out


@dataclass
class IntakeView:
    visit: Visit
    intake: VisitIntake | None
    case: ReviewCase | None
    media: Sequence[review_model.ShownMedia]
    form: review_model.Questionnaire
    decision: dict[str, Any] | None
    is_patient: bool

    @property
    def summary(self) -> PatientSummary | None:
        """What the patient reads instead of the rules' explanation."""
        if self.decision is None:
            return None
        return patient_summary(self.decision, booked=self.visit.planned_modality)


def intake_view(scope: Scope, visit_id: uuid.UUID) -> IntakeView:
    # The rows this view shows, read together and held here while the loaders below, which
    # decide access as always, find them in the session.
    rows = repository.visit_rows(scope.session, visit_id)
    visit = visit_access.readable_visit(scope, visit_id)
    actor = scope.require_actor()
    intake = rows[1] if rows is not None else None
    case, media = (
        review.case_with_media(scope, intake.case_id) if intake is not None else (None, [])
    )
    form = intake_form(visit)
    if case is not None:
        form = review_model.QUESTIONNAIRES.get(
            (case.questionnaire_id, case.questionnaire_version), form
        )
    return IntakeView(
        visit=visit,
        intake=intake,
        case=case,
        media=media,
        form=form,
        decision=visit_decision(scope, visit),
        is_patient=actor.role is Role.PATIENT and actor.patient_id == visit.patient_id,
    )


def visit_decision(scope: Scope, visit: Visit) -> dict[str, Any] | None:
    """The decision the visit currently runs under (the engine's modalities and reasons)."""
    try:
        record = policy.readable_decision(scope, visit.current_decision_id)
    except DomainError as exc:
        if exc.code is not ErrorCode.NOT_FOUND:
            raise
        return None
    return dict(record.decision)


def readable_decision(scope: Scope, decision_id: uuid.UUID) -> dict[str, Any]:
    return dict(policy.readable_decision(scope, decision_id).decision)


def decision_for_patient(scope: Scope, decision_id: uuid.UUID) -> PatientSummary:
    return patient_summary(readable_decision(scope, decision_id))


# --- the visit room's side panel ----------------------------------------------------------------


@dataclass
class VisitContext:
    banner: PatientBanner
    intake: IntakeView
    reports: list[review_model.ShownReport]
    monitoring: list[monitoring.EnrollmentCharts]


def visit_context(scope: Scope, visit_id: uuid.UUID) -> VisitContext:
    """What the clinician sees beside the video: the intake, prior reports, monitoring data."""
    view = intake_view(scope, visit_id)
    actor = scope.require_actor()
    if not actor.is_staff:
        raise DomainError(ErrorCode.FORBIDDEN, "this panel is for the care team")
    patient_id = view.visit.patient_id
    return VisitContext(
        # Who the patient is, first: the visit's loader read the row, and the read is audited.
        banner=access.patient_banner(scope, patient_id),
        intake=view,
        reports=review.prior_reports(
            scope, patient_id, exclude={view.intake.case_id} if view.intake else set()
        ),
        monitoring=monitoring_summaries(scope, patient_id, days=30),
    )


def monitoring_summaries(
    scope: Scope, patient_id: uuid.UUID, days: int
) -> list[monitoring.EnrollmentCharts]:
    return [
        monitoring.enrollment_charts(scope, enrollment, days)
        for enrollment in monitoring.list_enrollments(scope, patient_id)
        if enrollment.status == "active"
    ]


# --- dashboards ---------------------------------------------------------------------------------


@dataclass
class VisitRow:
    visit: Visit
    intake: VisitIntake | None
    waiting: int = 0


@dataclass
class Dashboard:
    template: str
    data: dict[str, Any] = field(default_factory=dict)


def dashboard(scope: Scope, actor: Actor) -> Dashboard:
    if actor.role is Role.PATIENT:
        return Dashboard("portal/dashboard_patient.html", _patient_dashboard(scope, actor))
    if actor.role is Role.CLINICIAN:
        return Dashboard("portal/dashboard_clinician.html", _clinician_dashboard(scope, actor))
    return Dashboard("portal/dashboard_staff.html", _staff_dashboard(scope, actor))


def _rows(
    scope: Scope,
    found: list[Visit],
    intakes: dict[uuid.UUID, VisitIntake],
    *,
    count_waiting: bool = False,
) -> list[VisitRow]:
    waiting = waiting_room.waiting_counts(scope, found) if count_waiting else {}
    return [VisitRow(v, intakes.get(v.id), waiting.get(v.id, 0)) for v in found]


def _intakes(scope: Scope, found: list[Visit]) -> dict[uuid.UUID, VisitIntake]:
    return repository.intakes_of_visits(scope.session, [v.id for v in found])


def _patient_dashboard(scope: Scope, actor: Actor) -> dict[str, Any]:
    assert actor.patient_id is not None
    # The patient's intakes, read once: they mark upcoming visits and hide intake cases.
    mine = repository.intakes_of_patient(scope.session, actor.patient_id)
    upcoming = _rows(scope, visit_access.open_visits(scope), {i.visit_id: i for i in mine})
    intake_cases = {i.case_id for i in mine}
    cases = [c for c in review.list_cases(scope, "submitted", None, 50) if c.id not in intake_cases]
    enrollments = [
        e for e in monitoring.list_enrollments(scope, actor.patient_id) if e.status == "active"
    ]
    return {"upcoming": upcoming, "cases": cases, "enrollments": enrollments}


def _by_day(scope: Scope, found: list[Visit]) -> tuple[list[Visit], list[Visit]]:
    """Visits of today (and earlier, still open) and of later days. A day is the visit's
    clinician's, in the time zone its slot was offered in: a US clinic's evening visits fall on
    the next UTC day but belong to today's schedule."""
    now = scope.clock.now()
    today: list[Visit] = []
    later: list[Visit] = []
    for visit in found:
        due = visits_model.same_day_or_before(visit.slot_start, now, visit.time_zone)
        (today if due else later).append(visit)
    return today, later


def _clinician_dashboard(scope: Scope, actor: Actor) -> dict[str, Any]:
    today, later = _by_day(
        scope, [v for v in visit_access.open_visits(scope) if v.clinician_id == actor.user_id]
    )
    later = later[:20]
    specialties = [
        s
        for s in identity.specialties_of(scope, actor.user_id)
        if s in review_model.SPECIALTY_QUESTIONNAIRES
    ]
    queues = {s: review.list_cases(scope, s, None, 20) for s in specialties}
    intakes = _intakes(scope, today + later)
    held = review.list_cases(scope, "mine", None, 20)
    return {
        "today": _rows(scope, today, intakes, count_waiting=True),
        "later": _rows(scope, later, intakes),
        "held": held,
        # Whose cases the held ones are; queue entries name no one until claimed.
        "names": access.listed_patients(scope, [c.patient_id for c in held]),
        "queues": queues,
        "alerts": monitoring.open_alerts(scope),
    }


def _staff_dashboard(scope: Scope, actor: Actor) -> dict[str, Any]:
    today, _ = _by_day(scope, visit_access.open_visits(scope))
    overdue = review.list_cases(scope, "overdue", None, 20)
    live_visit = review.list_cases(scope, "live_visit", None, 20)
    return {
        "today": _rows(scope, today, _intakes(scope, today), count_waiting=True),
        "overdue": overdue,
        "live_visit": live_visit,
        "names": access.listed_patients(scope, [c.patient_id for c in [*overdue, *live_visit]]),
        "alerts": monitoring.open_alerts(scope),
    }
