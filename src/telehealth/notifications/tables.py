"""Notification rows. Titles are generic ("A report is ready"): PHI stays behind the link."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from telehealth.db.base import Base, UTCDateTime, new_id


class Notification(Base):
    """``link`` is the path of the page the notification is about (a visit, a case, an
    enrollment): opening the notification leads there."""

    __tablename__ = "notifications"
    __table_args__ = (
        # The inbox: a person's notifications, newest first.
        Index("ix_notifications_user_created", "user_id", "created_at"),
        # The layout's unread count on every page: an index of the unread ones only.
        Index(
            "ix_notifications_unread",
            "user_id",
            postgresql_where=text("read_at IS NULL"),
            sqlite_where=text("read_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(48))
    title: Mapped[str] = mapped_column(String(200))
    link: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OutboxEmail(Base):
    """An email still owed for a notification, written in the notification's transaction.

    ``due_at`` is when a sender may next take it: a sender that claims it moves it past the
    time its attempt can take, so another instance leaves it alone, and a failed attempt moves
    it to the next retry. ``sent_at`` set means delivered. The address is looked up when the
    email is sent; the row holds no content of its own beyond the notification it points to.
    """

    __tablename__ = "email_outbox"
    __table_args__ = (Index("ix_email_outbox_pending", "sent_at", "due_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    notification_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notifications.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer(), default=0)
    # The class of the last failure (e.g. "ConnectionRefusedError"), never its message.
    last_error: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
