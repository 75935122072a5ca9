"""Queries for access decisions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from telehealth.access.tables import BreakGlassGrant


def active_grant(
    session: Session, clinician_id: uuid.UUID, patient_id: uuid.UUID, now: datetime
) -> bool:
    return bool(
        session.execute(
            select(
                exists().where(
                    BreakGlassGrant.clinician_id == clinician_id,
                    BreakGlassGrant.patient_id == patient_id,
                    BreakGlassGrant.expires_at > now,
                )
            )
        ).scalar()
    )


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
