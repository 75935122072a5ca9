"""The FHIR API's own queries: registered system clients and their used assertions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from telehealth.db.base import insert_ignoring_duplicates, new_id, table_of
from telehealth.fhir.tables import SystemClient, UsedAssertion


def client_by_id(session: Session, client_id: uuid.UUID) -> SystemClient | None:
    return session.get(SystemClient, client_id)


def clients_of(session: Session, org_id: uuid.UUID) -> Sequence[SystemClient]:
    return (
        session.execute(
            select(SystemClient)
            .where(SystemClient.org_id == org_id)
            .order_by(SystemClient.created_at, SystemClient.name)
        )
        .scalars()
        .all()
    )


def use_assertion(session: Session, client_id: uuid.UUID, jti: str, expires_at: datetime) -> bool:
    """Records a client's assertion id; False if it was recorded before (a replay). The
    database decides, so two requests racing with one assertion cannot both win."""
    statement = insert_ignoring_duplicates(session, UsedAssertion, ["client_id", "jti"]).values(
        id=new_id(), client_id=client_id, jti=jti, expires_at=expires_at
    )
    taken = session.execute(statement.returning(table_of(UsedAssertion).c.id)).scalar_one_or_none()
    return taken is not None


def forget_expired_assertions(session: Session, now: datetime) -> None:
    """Drops the ids of assertions that have expired: an expired assertion is refused anyway."""
    session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at <= now))
