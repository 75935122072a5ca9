"""What other capabilities may build queries from over access's data: the one public module of
access's SQL (the import contracts forbid ``access.repository`` and ``access.tables``
elsewhere), as :mod:`telehealth.identity.queries` is identity's.

Published: :func:`reached_by`, the patients a clinician may read, as a condition lists filter
with (and :func:`patients_under_grant`, its emergency half), so that every list follows what the
patient rule (:func:`telehealth.access.rules.patient`) reads from relationships: care, and an
active break-glass grant; and :func:`listed_by`, the whole ``named_or_patient`` rule over an
object's columns, for lists of objects that name their clinician.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, false, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from telehealth.access.tables import BreakGlassGrant
from telehealth.identity.model import Actor, Role
from telehealth.identity.queries import CARE_NOW, patients_in_care_of

__all__ = ["listed_by", "patients_under_grant", "reached_by"]


def patients_under_grant(
    clinician_id: uuid.UUID | ColumnElement[uuid.UUID],
    now: datetime | ColumnElement[datetime] = CARE_NOW,
) -> Select[uuid.UUID]:
    """The patients on whom the clinician holds an active break-glass grant, as a subquery."""
    return select(BreakGlassGrant.patient_id).where(
        BreakGlassGrant.clinician_id == clinician_id, BreakGlassGrant.expires_at > now
    )


def reached_by(
    patient_id: ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID],
    clinician_id: uuid.UUID | ColumnElement[uuid.UUID],
    now: datetime | ColumnElement[datetime] = CARE_NOW,
) -> ColumnElement[bool]:
    """Whether the clinician cares for the patient at ``now`` or holds an active break-glass
    grant on them; bound parameters stand for the clinician and the time in statements built
    once (the time as ``care_now``, as for care)."""
    return or_(
        patient_id.in_(patients_in_care_of(clinician_id, now)),
        patient_id.in_(patients_under_grant(clinician_id, now)),
    )


def listed_by(
    actor: Actor,
    now: datetime,
    *,
    org_id: ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID],
    patient_id: ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID],
    named: ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID],
) -> ColumnElement[bool]:
    """The objects of a patient that name a clinician working on them (``named``) which the
    actor may read (:func:`telehealth.access.rules.named_or_patient`), as a condition: a
    patient's own; a clinician's, of their organization, named on them or reaching their
    patient at ``now``; everything of a coordinator's or administrator's organization."""
    if actor.role is Role.PATIENT:
        return false() if actor.patient_id is None else patient_id == actor.patient_id
    if actor.role is Role.CLINICIAN:
        return and_(
            org_id == actor.org_id,
            or_(named == actor.user_id, reached_by(patient_id, actor.user_id, now)),
        )
    return org_id == actor.org_id
