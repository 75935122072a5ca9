"""Notify a user: a row in the same transaction and, when SMTP is set, an email owed for it
(an outbox row in that same transaction), which a background job sends and retries until the
mail server has it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from telehealth.access import loader
from telehealth.config import Settings
from telehealth.identity import queries as identity_queries
from telehealth.logging import get_logger
from telehealth.notifications import repository
from telehealth.notifications.mailer import SMTP_TIMEOUT, Mailer, SMTPException
from telehealth.notifications.tables import Notification, OutboxEmail
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
    if scope.settings.smtp_host:
        now = note.created_at
        scope.session.add(OutboxEmail(notification_id=note.id, created_at=now, due_at=now))
    return note


# Emails one run of the sender takes at a time.
SEND_BATCH = 20
# How long a claimed email is left alone by other senders: longer than a batch of attempts
# can take (each connection gives up after SMTP_TIMEOUT seconds).
CLAIM = timedelta(seconds=SEND_BATCH * SMTP_TIMEOUT * 2)


@dataclass(frozen=True)
class Email:
    outbox_id: uuid.UUID
    to: str
    title: str
    link: str | None


def send_pending(scope: Scope) -> int:
    """Sends the emails that are due; returns how many the mail server accepted.

    The claim is committed before any connection is made, so no lock is held while a mail
    server is slow; a claimed email is due again only after :data:`CLAIM`. A sender that dies
    between handing an email over and recording it leaves it to be sent again: delivery is
    at least once, and exactly once whenever the outcome is recorded.
    """
    if not scope.settings.smtp_host:
        return 0
    claimed = _claim(scope)
    mailer = scope.ports.mailer
    outcomes = {email.outbox_id: _attempt(scope.settings, mailer, email) for email in claimed}
    now = scope.clock.now()
    for row in scope.session.scalars(select(OutboxEmail).where(OutboxEmail.id.in_(outcomes))):
        _record(scope.settings, row, outcomes[row.id], now)
    return sum(1 for error in outcomes.values() if error is None)


def _claim(scope: Scope) -> list[Email]:
    now = scope.clock.now()
    claimed = []
    for row, note, address in repository.due_emails(scope.session, now, SEND_BATCH):
        row.due_at = now + CLAIM
        row.attempts += 1
        claimed.append(Email(row.id, address, note.title, note.link))
    scope.session.commit()
    return claimed


def _attempt(settings: Settings, mailer: Mailer, email: Email) -> str | None:
    """Sends one email; the failure's class name, or None when the server took it."""
    try:
        mailer.send(_message(settings, email))
    except (OSError, SMTPException) as exc:
        log.warning("email_failed", outbox_id=str(email.outbox_id), error=type(exc).__name__)
        return type(exc).__name__
    log.info("email_sent", outbox_id=str(email.outbox_id))
    return None


def _record(settings: Settings, row: OutboxEmail, error: str | None, now: datetime) -> None:
    if error is None:
        row.sent_at = now
        row.last_error = None
        return
    row.last_error = error
    row.due_at = now + retry_delay(settings, row.attempts)


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    """Exponential back-off after the ``attempts``-th failure, capped."""
    base = settings.email_retry_base_seconds
    seconds = min(base * 2 ** min(attempts - 1, 30), settings.email_retry_max_seconds)
    return timedelta(seconds=seconds)


def _message(settings: Settings, email: Email) -> EmailMessage:
    # The email says only that something is waiting; the content is behind sign-in.
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = email.to
    message["Subject"] = f"telehealth: {email.title}"
    target = f"{settings.public_url}{email.link}" if email.link else settings.public_url
    message.set_content(f"{email.title}.\n\nSign in to see it: {target}\n")
    return message


def pending_emails(scope: Scope) -> int:
    return repository.pending_emails(scope.session)


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


def _notification(
    session: Session, notification_id: uuid.UUID, _lock: bool
) -> tuple[Notification, uuid.UUID] | None:
    """The notification and its recipient's organization."""
    note = session.get(Notification, notification_id)
    recipient = None if note is None else identity_queries.user_by_id(session, note.user_id)
    return None if note is None or recipient is None else (note, recipient.org_id)


def _subject(found: tuple[Notification, uuid.UUID]) -> loader.Subject:
    note, org_id = found
    return loader.Subject(org_id, None, frozenset({note.user_id}))


NOTIFICATION = loader.register(loader.Kind("notification", "notification", _notification, _subject))


def mark_read(scope: Scope, notification_id: uuid.UUID) -> Notification:
    note, _org = loader.load(scope, NOTIFICATION, notification_id)
    if note.read_at is None:
        note.read_at = scope.clock.now()
    return note
