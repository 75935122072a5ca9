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

# The inbox page (notifications/pages.py).
INBOX = "/notifications"
# Every email's subject: what the email is about stays behind sign-in.
EMAIL_SUBJECT = "telehealth: you have a new notification"


def notify(
    scope: Scope, user_id: uuid.UUID, *, kind: str, title: str, link: str | None = None
) -> Notification:
    """``title`` is plain words with no PHI (it is emailed); ``link`` the path of the page the
    notification is about, where opening it leads."""
    if link is not None and not (link.startswith("/") and not link.startswith("//")):
        raise ValueError("a notification links to a page of this site, by its path")
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
    notification_id: uuid.UUID
    to: str
    title: str


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
        claimed.append(Email(row.id, note.id, address, note.title))
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
    # The email says only that something is waiting, in the notification's plain title (which
    # carries no PHI); the content is behind sign-in. The subject is the same for every email.
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = email.to
    message["Subject"] = EMAIL_SUBJECT
    target = settings.link(opening_path(email.notification_id))
    message.set_content(f"{email.title}.\n\nOpen it (you may be asked to sign in):\n{target}\n")
    return message


def opening_path(notification_id: uuid.UUID) -> str:
    """Where a notification is opened from the inbox or an email: it is marked read there and
    the reader is sent on to its page (:func:`open_notification`)."""
    return f"/notifications/{notification_id}/open"


def pending_emails(scope: Scope) -> int:
    return repository.pending_emails(scope.session)


def inbox(
    scope: Scope, *, unread_only: bool, limit: int = 50, offset: int = 0
) -> Sequence[Notification]:
    """The actor's own notifications, newest first. They are no patient's record (their
    titles are generic and they name no patient), so reading them is not audited as a PHI
    read; reaching someone else's is refused by the loader and audited."""
    actor = scope.require_actor()
    return repository.inbox(
        scope.session, actor.user_id, unread_only=unread_only, limit=limit, offset=offset
    )


def unread_count(scope: Scope) -> int:
    return repository.unread_count(scope.session, scope.require_actor().user_id)


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


def mark_all_read(scope: Scope) -> int:
    return repository.mark_all_read(scope.session, scope.require_actor().user_id, scope.clock.now())


def open_notification(scope: Scope, notification_id: uuid.UUID) -> str:
    """Marks the notification read and returns the path of its page (the inbox when it is
    about no page)."""
    note = mark_read(scope, notification_id)
    return note.link or INBOX


def notify_once(
    scope: Scope, user_id: uuid.UUID, *, kind: str, title: str, link: str
) -> Notification | None:
    """Like :func:`notify`, unless the user already has a notification of ``kind`` about
    ``link`` (a periodic job telling of one event tells it once)."""
    if repository.has_notification(scope.session, user_id, kind, link):
        return None
    return notify(scope, user_id, kind=kind, title=title, link=link)
