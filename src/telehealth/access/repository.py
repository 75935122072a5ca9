"""Queries for access decisions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, LargeBinary, Uuid, bindparam, case, exists, select
from sqlalchemy.orm import Session, aliased

from telehealth.access.queries import patients_under_grant
from telehealth.access.tables import BreakGlassGrant
from telehealth.db.base import UTCDateTime
from telehealth.db.engine import read_columns
from telehealth.db.reader import AnySelect, keyed
from telehealth.identity.model import Role
from telehealth.identity.queries import Patient, User, bearer_select, in_care, patients_in_care_of


def grants_in_org(
    session: Session, org_id: uuid.UUID, *, unreviewed_only: bool, limit: int = 200
) -> Sequence[BreakGlassGrant]:
    query = select(BreakGlassGrant).where(BreakGlassGrant.org_id == org_id)
    if unreviewed_only:
        query = query.where(BreakGlassGrant.reviewed_at.is_(None))
    return (
        session.execute(query.order_by(BreakGlassGrant.created_at.desc()).limit(limit))
        .scalars()
        .all()
    )


def grant_by_id(session: Session, grant_id: uuid.UUID) -> BreakGlassGrant | None:
    return session.get(BreakGlassGrant, grant_id)


def _clinician_relation(
    clinician_id: ColumnElement[uuid.UUID],
    patient_id: ColumnElement[uuid.UUID],
    now: ColumnElement[datetime],
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Whether a clinician cares for a patient now, and whether they hold an active break-glass
    grant on them: what :func:`telehealth.access.rules.patient` reads from relationships."""
    care = in_care(clinician_id, patient_id, now)
    # correlate_except: the key columns may come from an enclosing statement (see ``keyed``).
    glass = (
        exists()
        .where(
            BreakGlassGrant.clinician_id == clinician_id,
            BreakGlassGrant.patient_id == patient_id,
            BreakGlassGrant.expires_at > now,
        )
        .correlate_except(BreakGlassGrant)
    )
    return care, glass


# Asked at a clinician's first look at a patient in a request; built once, as building a
# statement and its cache key costs more than running it.
_RELATION = select(
    *(
        fact.label(name)
        for fact, name in zip(
            _clinician_relation(
                bindparam("clinician_id", type_=Uuid()),
                bindparam("patient_id", type_=Uuid()),
                bindparam("now", type_=UTCDateTime()),
            ),
            ("in_care", "break_glass"),
            strict=True,
        )
    )
)


def clinician_relation(
    session: Session, clinician_id: uuid.UUID, patient_id: uuid.UUID, now: datetime
) -> tuple[bool, bool]:
    """(in care, active break-glass grant) of a clinician toward a patient, in one statement."""
    row = read_columns(
        session, _RELATION, {"clinician_id": clinician_id, "patient_id": patient_id, "now": now}
    ).one()
    return bool(row.in_care), bool(row.break_glass)


def reached_only_by_grant(
    session: Session, clinician_id: uuid.UUID, patient_ids: set[uuid.UUID], now: datetime
) -> set[uuid.UUID]:
    """Of ``patient_ids``, those the clinician reaches through an active break-glass grant but
    does not care for."""
    found = session.execute(
        patients_under_grant(clinician_id, now).where(
            BreakGlassGrant.patient_id.in_(patient_ids),
            BreakGlassGrant.patient_id.not_in(patients_in_care_of(clinician_id, now)),
        )
    )
    return set(found.scalars())


def _bearer_patient_read(
    token_hash: ColumnElement[bytes],
    patient_id: ColumnElement[uuid.UUID],
    now: ColumnElement[datetime],
) -> AnySelect:
    """A bearer token, its user and one patient's record and access facts, in one statement.

    Built once: it serves the fast read of a patient record (see :mod:`telehealth.access.fast`).
    """
    target = aliased(Patient)
    care, glass = _clinician_relation(User.id.expression, patient_id, now)
    clinician = User.role == Role.CLINICIAN.value
    return bearer_select(
        token_hash,
        target.id.label("id"),
        target.org_id.label("patient_org_id"),
        target.given_name,
        target.family_name,
        target.birth_date,
        target.home_state,
        target.phone,
        target.version,
        target.record_number,
        target.sex,
        # Care and grants only count for clinicians; CASE spares the lookups for everyone else.
        case((clinician, care), else_=False).label("in_care"),
        case((clinician, glass), else_=False).label("break_glass"),
    ).outerjoin(target, target.id == patient_id)


BEARER_PATIENT_READ = keyed(
    _bearer_patient_read, token_hash=LargeBinary(), patient_id=Uuid(), now=UTCDateTime()
)
