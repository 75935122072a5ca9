"""Portal actions: role dashboards, the hybrid pre-visit intake, the visit's side panel, alert
handling and the coordinator/administrator pages.

The portal owns one object, the visit intake; everything else is read and changed through the
capabilities' own services, so their access rules and audit events apply unchanged. An intake
is reached only through its visit's loader (``visits.service.readable_visit``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from telehealth.access import service as access
from telehealth.audit import repository as audit_repo
from telehealth.audit.model import Action, ShownEvent
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.identity import repository as identity_repo
from telehealth.identity import service as identity
from telehealth.identity.model import Actor, LicenseKind, Role
from telehealth.identity.tables import (
    ClinicianProfile,
    CompactMembership,
    DeaRegistration,
    License,
    User,
)
from telehealth.monitoring import model as monitoring_model
from telehealth.monitoring import service as monitoring
from telehealth.monitoring.tables import Alert
from telehealth.notifications.service import notify
from telehealth.policy import service as policy
from telehealth.portal import repository
from telehealth.portal.tables import VisitIntake
from telehealth.review import model as review_model
from telehealth.review import repository as review_repo
from telehealth.review import service as review
from telehealth.review.tables import ReviewCase
from telehealth.scope import Scope
from telehealth.visits import model as visits_model
from telehealth.visits import repository as visits_repo
from telehealth.visits import service as visits
from telehealth.visits.tables import AvailabilityWindow, Visit

INTAKE = "visit_intake"
OPEN_VISIT_STATES = (
    visits_model.VisitStatus.BOOKED.value,
    visits_model.VisitStatus.IN_PROGRESS.value,
)
OPEN_ALERT_STATES = (
    monitoring_model.AlertStatus.OPEN.value,
    monitoring_model.AlertStatus.ESCALATED.value,
)
INTAKE_SPECIALTY = "primary_care"


# --- the pre-visit intake -----------------------------------------------------------------------


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


def _patient_of_visit(scope: Scope, visit: Visit) -> Actor:
    actor = scope.require_actor()
    if actor.role is not Role.PATIENT or actor.patient_id != visit.patient_id:
        raise DomainError(ErrorCode.FORBIDDEN, "only the patient fills in the pre-visit intake")
    return actor


def start_intake(
    scope: Scope, visit_id: uuid.UUID, reason: str, answers: dict[str, Any]
) -> VisitIntake:
    """Creates the intake case (a draft the patient adds photos to) and links it to the visit."""
    visit = visits.readable_visit(scope, visit_id)
    actor = _patient_of_visit(scope, visit)
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
    visit = visits.readable_visit(scope, visit_id)
    _patient_of_visit(scope, visit)
    intake = repository.intake_of_visit(scope.session, visit.id)
    if intake is None:
        raise not_found("intake")
    if intake.completed_at is not None:
        raise DomainError(ErrorCode.INVALID_STATE, "the intake has already been sent")
    if review_repo.pending_uploads(scope.session, intake.case_id):
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


@dataclass
class IntakeView:
    visit: Visit
    intake: VisitIntake | None
    case: ReviewCase | None
    media: Sequence[review_model.ShownMedia]
    form: review_model.Questionnaire
    decision: dict[str, Any] | None
    is_patient: bool


def intake_view(scope: Scope, visit_id: uuid.UUID) -> IntakeView:
    # The rows this view shows, read together and held here while the loaders below, which
    # decide access as always, find them in the session.
    rows = repository.visit_rows(scope.session, visit_id)
    visit = visits.readable_visit(scope, visit_id)
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


# --- the visit room's side panel ----------------------------------------------------------------


@dataclass
class VisitContext:
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
        intake=view,
        reports=prior_reports(
            scope, patient_id, exclude={view.intake.case_id} if view.intake else set()
        ),
        monitoring=monitoring_summaries(scope, patient_id, days=30),
    )


def prior_reports(
    scope: Scope, patient_id: uuid.UUID, exclude: set[uuid.UUID] | None = None, limit: int = 20
) -> list[review_model.ShownReport]:
    """Signed store-and-forward reports of a patient the actor may read, newest first."""
    patient = access.readable_patient(scope, patient_id)
    found = [
        report
        for report in review_repo.latest_signed_reports(scope.session, patient.id, limit)
        if not (exclude and report.case_id in exclude)
    ]
    for report in found:
        scope.audit.record(
            Action.READ,
            review.CASE,
            report.case_id,
            patient_id=report.patient_id,
            detail={"via": "portal"},
        )
    return found


def monitoring_summaries(
    scope: Scope, patient_id: uuid.UUID, days: int
) -> list[monitoring.EnrollmentCharts]:
    return [
        monitoring.enrollment_charts(scope, enrollment, days)
        for enrollment in monitoring.list_enrollments(scope, patient_id)
        if enrollment.status == "active"
    ]


# --- monitoring alerts --------------------------------------------------------------------------


@dataclass
class AlertRow:
    alert: Alert
    patient_name: str


def open_alerts(scope: Scope, limit: int = 200) -> list[AlertRow]:
    """Unhandled alerts of the actor's monitoring panel (a clinician's patients, or the
    organization's for coordinators and administrators), oldest first."""
    actor = scope.require_actor()
    if not actor.is_staff:
        raise DomainError(ErrorCode.FORBIDDEN, "alerts are handled by the care team")
    clinician = actor.user_id if actor.role is Role.CLINICIAN else None
    rows = []
    for alert, given_name, family_name in repository.open_alerts(
        scope.session, actor.org_id, OPEN_ALERT_STATES, clinician, limit, now=scope.clock.now()
    ):
        scope.audit.record(
            Action.READ,
            "monitoring_alert",
            alert.id,
            patient_id=alert.patient_id,
            detail={"via": "portal"},
        )
        rows.append(AlertRow(alert, f"{family_name}, {given_name}"))
    return rows


def act_on_alert(scope: Scope, alert_id: uuid.UUID, action: str) -> Alert:
    try:
        chosen = monitoring_model.AlertAction(action)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "unknown alert action", field="do") from exc
    return monitoring.transition_alert(scope, alert_id, chosen)


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


def _open_visits(scope: Scope) -> list[Visit]:
    found = visits.readable_visits(scope, limit=100, offset=0)
    return sorted(
        (v for v in found if v.status in OPEN_VISIT_STATES), key=lambda v: (v.slot_start, v.id)
    )


def _rows(
    scope: Scope,
    found: list[Visit],
    intakes: dict[uuid.UUID, VisitIntake],
    *,
    count_waiting: bool = False,
) -> list[VisitRow]:
    waiting = (
        visits_repo.participant_counts(
            scope.session, [v.id for v in found], visits_model.ParticipantState.WAITING.value
        )
        if count_waiting
        else {}
    )
    return [VisitRow(v, intakes.get(v.id), waiting.get(v.id, 0)) for v in found]


def _intakes(scope: Scope, found: list[Visit]) -> dict[uuid.UUID, VisitIntake]:
    return repository.intakes_of_visits(scope.session, [v.id for v in found])


def _patient_dashboard(scope: Scope, actor: Actor) -> dict[str, Any]:
    assert actor.patient_id is not None
    # The patient's intakes, read once: they mark upcoming visits and hide intake cases.
    mine = repository.intakes_of_patient(scope.session, actor.patient_id)
    upcoming = _rows(scope, _open_visits(scope), {i.visit_id: i for i in mine})
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
        scope, [v for v in _open_visits(scope) if v.clinician_id == actor.user_id]
    )
    later = later[:20]
    profile = identity_repo.clinician_profile(scope.session, actor.user_id)
    specialties = [
        s
        for s in (profile.specialties if profile else [])
        if s in review_model.SPECIALTY_QUESTIONNAIRES
    ]
    queues = {s: review.list_cases(scope, s, None, 20) for s in specialties}
    intakes = _intakes(scope, today + later)
    return {
        "today": _rows(scope, today, intakes, count_waiting=True),
        "later": _rows(scope, later, intakes),
        "held": review.list_cases(scope, "mine", None, 20),
        "queues": queues,
        "alerts": open_alerts(scope),
    }


def _staff_dashboard(scope: Scope, actor: Actor) -> dict[str, Any]:
    today, _ = _by_day(scope, _open_visits(scope))
    return {
        "today": _rows(scope, today, _intakes(scope, today), count_waiting=True),
        "overdue": review.list_cases(scope, "overdue", None, 20),
        "live_visit": review.list_cases(scope, "live_visit", None, 20),
        "alerts": open_alerts(scope),
    }


# --- users and credentials (coordinators and administrators) -------------------------------------


def org_users(scope: Scope) -> list[User]:
    manager = access.require_org_manager(scope)
    return list(identity_repo.users_in_org(scope.session, manager.org_id))


@dataclass(frozen=True)
class Invitation:
    user: User
    invite_url: str
    expires_at: datetime


def invite_user(scope: Scope, *, email: str, display_name: str, role: Role) -> Invitation:
    manager = access.require_org_manager(scope)
    if role in (Role.ADMIN, Role.COORDINATOR) and manager.role is not Role.ADMIN:
        raise DomainError(ErrorCode.FORBIDDEN, "only administrators create staff accounts")
    if role is Role.PATIENT:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "patients are invited with their record", field="role"
        )
    created = identity.create_user(
        scope,
        org_id=manager.org_id,
        email=email,
        role=role,
        display_name=display_name,
        password=None,
    )
    return _invitation(scope, created.user)


@dataclass(frozen=True)
class PatientInput:
    given_name: str
    family_name: str
    birth_date: date
    home_state: str
    email: str


def invite_patient(scope: Scope, data: PatientInput) -> Invitation:
    manager = access.require_org_manager(scope)
    created = identity.create_user(
        scope,
        org_id=manager.org_id,
        email=data.email,
        role=Role.PATIENT,
        display_name=f"{data.given_name} {data.family_name}",
        password=None,
    )
    identity.create_patient(
        scope,
        org_id=manager.org_id,
        given_name=data.given_name,
        family_name=data.family_name,
        birth_date=data.birth_date,
        home_state=data.home_state,
        user_id=created.user.id,
    )
    return _invitation(scope, created.user)


def _invitation(scope: Scope, user: User) -> Invitation:
    invite = identity.create_invite(scope, user.id)
    # The token travels in the fragment, which browsers never send to servers or logs.
    url = f"{scope.settings.public_url}/invite#token={invite.secret}"
    return Invitation(user=user, invite_url=url, expires_at=invite.expires_at)


@dataclass
class Credentials:
    user: User
    profile: ClinicianProfile
    licenses: list[License]
    compacts: list[CompactMembership]
    dea: list[DeaRegistration]


def org_clinician(scope: Scope, clinician_id: uuid.UUID) -> User:
    access.require_org_manager(scope)
    return access.readable_clinician(scope, clinician_id)


def clinician_credentials(scope: Scope, clinician_id: uuid.UUID) -> Credentials:
    user = org_clinician(scope, clinician_id)
    profile = identity_repo.clinician_profile(scope.session, user.id)
    if profile is None:
        raise not_found("clinician")
    return Credentials(
        user=user,
        profile=profile,
        licenses=list(identity_repo.licenses_of(scope.session, user.id)),
        compacts=list(identity_repo.compacts_of(scope.session, user.id)),
        dea=list(identity_repo.dea_of(scope.session, user.id)),
    )


def add_license(
    scope: Scope,
    clinician_id: uuid.UUID,
    *,
    state: str,
    kind: str,
    number: str,
    expires_on: date | None,
) -> License:
    user = org_clinician(scope, clinician_id)
    try:
        license_kind = LicenseKind(kind)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "choose a license kind", field="kind") from exc
    return identity.add_license(
        scope, user.id, state=state, kind=license_kind, number=number, expires_on=expires_on
    )


def add_dea(
    scope: Scope,
    clinician_id: uuid.UUID,
    *,
    state: str,
    number: str,
    schedules: list[str],
    expires_on: date | None,
) -> DeaRegistration:
    user = org_clinician(scope, clinician_id)
    return identity.add_dea_registration(
        scope, user.id, state=state, number=number, schedules=schedules, expires_on=expires_on
    )


# --- schedules ----------------------------------------------------------------------------------


@dataclass
class Schedule:
    clinician: User
    windows: list[AvailabilityWindow]
    visits: list[Visit]


def org_schedules(scope: Scope) -> list[Schedule]:
    manager = access.require_org_manager(scope)
    booked: dict[uuid.UUID, list[Visit]] = defaultdict(list)
    for visit in _open_visits(scope):
        booked[visit.clinician_id].append(visit)
    clinicians = repository.clinicians_in_org(scope.session, manager.org_id)
    windows = visits.windows_by_clinician(scope, [user.id for user in clinicians])
    return [Schedule(user, windows[user.id], booked.get(user.id, [])) for user in clinicians]


def add_window(
    scope: Scope,
    clinician_id: uuid.UUID,
    *,
    time_zone: str,
    weekday: int,
    start: time,
    end: time,
    slot_minutes: int,
) -> AvailabilityWindow:
    user = org_clinician(scope, clinician_id)
    return visits.add_window(
        scope, user.id, visits_model.WeeklyWindow(time_zone, weekday, start, end, slot_minutes)
    )


# --- audit-log search ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    patient_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    action: Action | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


def search_audit(scope: Scope, query: AuditQuery) -> list[ShownEvent]:
    """Administrators search their organization's log; the search is itself audited."""
    admin = access.require_admin(scope)
    rows = audit_repo.search_shown(
        scope.session,
        audit_repo.AuditFilter(
            org_id=admin.org_id,
            patient_id=query.patient_id,
            actor_id=query.actor_id,
            action=query.action.value if query.action else None,
            since=query.since,
            until=query.until,
            limit=max(1, min(query.limit, 500)),
        ),
    )
    scope.audit.record(Action.EXPORT, "audit_log", None, detail={"rows": len(rows), "via": "page"})
    return rows
