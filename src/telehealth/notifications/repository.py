"""Queries of the notifications capability."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, func, select, update
from sqlalchemy.orm import Session

from telehealth.identity.queries import User
from telehealth.notifications.tables import Notification, OutboxEmail


def due_emails(
    session: Session, now: datetime, limit: int
) -> Sequence[Row[OutboxEmail, Notification, str]]:
    """Unsent emails due by ``now``, oldest first, each with its notification and address,
    locked for this transaction. On PostgreSQL rows another sender has locked are skipped,
    not waited for; SQLite has one writer at a time (BEGIN IMMEDIATE), which serialises
    senders instead."""
    query = (
        select(OutboxEmail, Notification, User.email)
        .join(Notification, Notification.id == OutboxEmail.notification_id)
        .join(User, User.id == Notification.user_id)
        .where(OutboxEmail.sent_at.is_(None), OutboxEmail.due_at <= now)
        .order_by(OutboxEmail.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=OutboxEmail)
    )
    return session.execute(query).all()


def pending_emails(session: Session) -> int:
    query = select(func.count()).select_from(OutboxEmail).where(OutboxEmail.sent_at.is_(None))
    return int(session.scalar(query) or 0)


def unread_count(session: Session, user_id: uuid.UUID) -> int:
    """One statement on the partial index of unread notifications."""
    query = (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return int(session.scalar(query) or 0)


def inbox(
    session: Session, user_id: uuid.UUID, *, unread_only: bool, limit: int, offset: int
) -> Sequence[Notification]:
    """The user's notifications, newest first (the id breaks ties, so pages never overlap)."""
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc())
    return session.scalars(query.limit(limit).offset(offset)).all()


def mark_all_read(session: Session, user_id: uuid.UUID, now: datetime) -> int:
    query = (
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]


def has_notification(session: Session, user_id: uuid.UUID, kind: str, link: str) -> bool:
    query = select(Notification.id).where(
        Notification.user_id == user_id, Notification.kind == kind, Notification.link == link
    )
    return session.scalar(query.limit(1)) is not None
