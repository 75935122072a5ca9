"""Queries of the portal capability. Nothing else in the package builds SQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.orm import Session

from telehealth.identity import repository as identity_repo
from telehealth.identity.model import Role
from telehealth.identity.tables import Patient, User
from telehealth.monitoring.tables import Alert, Enrollment
from telehealth.policy.records import DecisionRecord
from telehealth.portal.tables import VisitIntake
from telehealth.review.tables import ReviewCase
from telehealth.visits.tables import Visit

VisitRows = tuple[
    Visit, VisitIntake | None, ReviewCase | None, DecisionRecord | None, Patient | None
]


def intake_of_visit(session: Session, visit_id: uuid.UUID) -> VisitIntake | None:
    return session.execute(
        select(VisitIntake).where(VisitIntake.visit_id == visit_id)
    ).scalar_one_or_none()


# Built once with a bound parameter: building a statement and its cache key costs more than
# running it.
_VISIT_ROWS = (
    select(Visit, VisitIntake, ReviewCase, DecisionRecord, Patient)
    .outerjoin(VisitIntake, VisitIntake.visit_id == Visit.id)
    .outerjoin(ReviewCase, ReviewCase.id == VisitIntake.case_id)
    .outerjoin(DecisionRecord, DecisionRecord.id == Visit.current_decision_id)
    .outerjoin(Patient, Patient.id == Visit.patient_id)
    .where(Visit.id == bindparam("visit_id"))
)


def visit_rows(session: Session, visit_id: uuid.UUID) -> VisitRows | None:
    """A visit with its intake, the intake's case, the visit's current decision and its patient,
    in one round trip. These are rows, not answers: callers still reach each object through its
    loader, which decides access and finds the row in the session instead of reading it again."""
    row = session.execute(_VISIT_ROWS, {"visit_id": visit_id}).one_or_none()
    if row is None:
        return None
    visit, intake, case, decision, patient = row
    return visit, intake, case, decision, patient


# The dashboards' intake reads, built once (see above).
_INTAKES_OF_VISITS = select(VisitIntake).where(
    VisitIntake.visit_id.in_(bindparam("visit_ids", expanding=True))
)
_INTAKES_OF_PATIENT = select(VisitIntake).where(VisitIntake.patient_id == bindparam("patient_id"))


def intakes_of_visits(
    session: Session, visit_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, VisitIntake]:
    ids = list(visit_ids)
    if not ids:
        return {}
    rows = session.execute(_INTAKES_OF_VISITS, {"visit_ids": ids}).scalars()
    return {row.visit_id: row for row in rows}


def intakes_of_patient(session: Session, patient_id: uuid.UUID) -> Sequence[VisitIntake]:
    return session.execute(_INTAKES_OF_PATIENT, {"patient_id": patient_id}).scalars().all()


def clinicians_in_org(session: Session, org_id: uuid.UUID, limit: int = 200) -> Sequence[User]:
    return (
        session.execute(
            select(User)
            .where(User.org_id == org_id, User.role == Role.CLINICIAN.value)
            .order_by(User.display_name, User.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )


def open_alerts(
    session: Session,
    org_id: uuid.UUID,
    states: Sequence[str],
    clinician_id: uuid.UUID | None,
    limit: int,
    *,
    now: datetime,
) -> list[tuple[Alert, str, str]]:
    """Unhandled alerts of an organization, or of one clinician's patients, oldest first, with
    the patient's given and family names (the names only: a row entity costs more to load)."""
    params = {"org_id": org_id, "states": list(states), "limit": limit}
    if clinician_id is None:
        rows = session.execute(_ORG_OPEN_ALERTS, params).all()
    else:
        rows = session.execute(
            _PANEL_OPEN_ALERTS, {**params, "clinician_id": clinician_id, "care_now": now}
        ).all()
    return [(alert, given, family) for alert, given, family in rows]


def _open_alerts_of(panel: bool) -> Select[Alert, str, str]:
    query = (
        select(Alert, Patient.given_name, Patient.family_name)
        .join(Patient, Patient.id == Alert.patient_id)
        .where(
            Alert.org_id == bindparam("org_id"),
            Alert.status.in_(bindparam("states", expanding=True)),
        )
    )
    if panel:
        clinician = bindparam("clinician_id", type_=Enrollment.clinician_id.type)
        query = query.join(Enrollment, Enrollment.id == Alert.enrollment_id).where(
            or_(
                Patient.id.in_(identity_repo.patients_in_care_of(clinician)),
                Enrollment.clinician_id == clinician,
            )
        )
    return query.order_by(Alert.observed_at, Alert.id).limit(bindparam("limit"))


# The dashboards' alert lists, built once: building a statement and its cache key costs more
# than running it.
_ORG_OPEN_ALERTS = _open_alerts_of(panel=False)
_PANEL_OPEN_ALERTS = _open_alerts_of(panel=True)
