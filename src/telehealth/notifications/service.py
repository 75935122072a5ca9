"""Notify a user: a row in the same transaction, an email after commit when SMTP is set."""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Sequence
from email.message import EmailMessage

from sqlalchemy import select

from telehealth.config import Settings
from telehealth.errors import not_found
from telehealth.identity import repository as identity_repo
from telehealth.logging import get_logger
from telehealth.notifications.tables import Notification
from telehealth.scope import Scope

log = get_logger("telehealth.notifications")


def notify(
    scope: Scope, user_id: uuid.UUID, *, kind: str, title: str, link: str | None = None
) -> Notification:
    note = Notification(
        user_id=user_id, kind=kind, title=title, link=link, created_at=scope.clock.now()
    )
    scope.session.add(note)
    scope.session.flush()
    settings = scope.settings
    if settings.smtp_host:
        user = identity_repo.user_by_id(scope.session, user_id)
        if user is not None:
            address = user.email
            scope.uow.after_commit(lambda: _send_email(settings, address, title, link))
    return note


def _send_email(settings: Settings, to: str, title: str, link: str | None) -> None:
    # The email says only that something is waiting; the content is behind sign-in.
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = f"telehealth: {title}"
    target = f"{settings.public_url}{link}" if link else settings.public_url
    message.set_content(f"{title}.\n\nSign in to see it: {target}\n")
    try:
        assert settings.smtp_host is not None
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            if settings.smtp_user and settings.smtp_password:
                smtp.starttls()
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("email_failed", error=type(exc).__name__)


def inbox(scope: Scope, *, unread_only: bool, limit: int = 50) -> Sequence[Notification]:
    actor = scope.require_actor()
    query = select(Notification).where(Notification.user_id == actor.user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return (
        scope.session.execute(query.order_by(Notification.created_at.desc()).limit(limit))
        .scalars()
        .all()
    )


def mark_read(scope: Scope, notification_id: uuid.UUID) -> Notification:
    actor = scope.require_actor()
    note = scope.session.get(Notification, notification_id)
    if note is None or note.user_id != actor.user_id:
        raise not_found("notification")
    if note.read_at is None:
        note.read_at = scope.clock.now()
    return note
