"""What other capabilities may build queries from over access's data: the one public module of
access's SQL (the import contracts forbid ``access.repository`` and ``access.tables``
elsewhere), as :mod:`telehealth.identity.queries` is identity's.

Published: :func:`reached_by`, the patients a clinician may read, as a condition lists filter
with (and :func:`patients_under_grant`, its emergency half), so that every list follows what the
patient rule (:func:`telehealth.access.rules.patient`) reads from relationships: care, and an
active break-glass grant.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from telehealth.access.tables import BreakGlassGrant
from telehealth.identity.queries import CARE_NOW, patients_in_care_of

__all__ = ["patients_under_grant", "reached_by"]


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
