"""Queries of the portal capability (its visit intakes). Nothing else in the package builds SQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from telehealth.identity.queries import Patient

# The intake page's one-round-trip read (visit_rows) names the tables of the objects it shows;
# it only warms the session: each object is still reached through its owner's loader. This is
# the one documented exception to the "own queries" import contract (.importlinter).
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


def intake_by_id(session: Session, intake_id: uuid.UUID) -> VisitIntake | None:
    return session.get(VisitIntake, intake_id)


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
