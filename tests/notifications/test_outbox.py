"""The email outbox against a real SMTP server (aiosmtpd) that is down, then up."""

from __future__ import annotations

import uuid
from email import message_from_bytes
from email.policy import default

import pytest
from sqlalchemy import select

from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.jobs import Job, registered, run_job
from telehealth.notifications import repository
from telehealth.notifications.service import EMAIL_SUBJECT, notify, retry_delay
from telehealth.notifications.tables import OutboxEmail
from tests.notifications.smtp import free_port, smtp_server
from tests.support import World, real_ports, scope_for

pytestmark = pytest.mark.db

TITLE = "A report is ready"


@pytest.fixture
def mail_settings(settings: Settings) -> Settings:
    # Nothing listens on this port until a test starts the server there.
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": free_port()})


def _sender() -> Job:
    [job] = [job for job in registered() if job.name == "notifications.send_emails"]
    return job


def _send(settings: Settings, clock: FrozenClock) -> int:
    engine = make_engine(settings.effective_database_url)
    try:
        return run_job(_sender(), make_sessionmaker(engine), real_ports(settings, clock))
    finally:
        engine.dispose()


def _outbox(settings: Settings) -> list[OutboxEmail]:
    engine = make_engine(settings.effective_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            return list(session.scalars(select(OutboxEmail)))
    finally:
        engine.dispose()


def _notify(settings: Settings, clock: FrozenClock, user_id: uuid.UUID) -> None:
    with scope_for(settings, clock) as scope:
        notify(scope, user_id, kind="review_report", title=TITLE, link="/cases/1")


def test_email_waits_while_smtp_is_down_and_is_delivered_once_when_it_is_back(
    world: World, mail_settings: Settings, clock: FrozenClock
) -> None:
    patient = world["patient_a"]
    _notify(mail_settings, clock, patient.user_id)

    assert _send(mail_settings, clock) == 0  # the server is down
    [pending] = _outbox(mail_settings)
    assert pending.sent_at is None
    assert pending.attempts == 1
    assert pending.last_error == "ConnectionRefusedError"

    with smtp_server(mail_settings.smtp_port) as mailbox:
        assert _send(mail_settings, clock) == 0  # backing off: not due yet
        assert mailbox.received == []
        clock.advance(retry_delay(mail_settings, 1))
        assert _send(mail_settings, clock) == 1
        clock.advance(retry_delay(mail_settings, 10))
        assert _send(mail_settings, clock) == 0

    [(recipients, content)] = mailbox.received
    assert recipients == [patient.email]
    email = message_from_bytes(content, policy=default)
    assert email["Subject"] == EMAIL_SUBJECT
    assert TITLE in email.get_body().get_content()  # type: ignore[union-attr]
    [sent] = _outbox(mail_settings)
    assert sent.sent_at == clock.now() - retry_delay(mail_settings, 10)
    assert sent.attempts == 2
    assert sent.last_error is None


def test_back_off_doubles_up_to_the_cap(mail_settings: Settings) -> None:
    capped = mail_settings.model_copy(
        update={"email_retry_base_seconds": 30, "email_retry_max_seconds": 100}
    )
    delays = [retry_delay(capped, attempt).total_seconds() for attempt in (1, 2, 3, 4, 99)]
    assert delays == [30, 60, 100, 100, 100]


def test_a_notification_rolled_back_owes_no_email(
    world: World, mail_settings: Settings, clock: FrozenClock
) -> None:
    def fail_after_notifying() -> None:
        with scope_for(mail_settings, clock) as scope:
            notify(scope, world["patient_a"].user_id, kind="review_report", title=TITLE)
            raise RuntimeError("the request failed after notifying")

    with pytest.raises(RuntimeError):
        fail_after_notifying()
    assert _outbox(mail_settings) == []


def test_no_email_is_owed_without_smtp(
    world: World, settings: Settings, clock: FrozenClock
) -> None:
    _notify(settings, clock, world["patient_a"].user_id)
    assert _outbox(settings) == []


def test_a_second_sender_skips_the_emails_another_has_locked(
    world: World, mail_settings: Settings, clock: FrozenClock, dialect: str
) -> None:
    if dialect == "sqlite":
        pytest.skip("SQLite has one writer at a time: a second sender waits, it cannot skip")
    _notify(mail_settings, clock, world["patient_a"].user_id)
    _notify(mail_settings, clock, world["patient_b"].user_id)
    engine = make_engine(mail_settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    try:
        with sessions() as first, sessions() as second:
            mine = repository.due_emails(first, clock.now(), limit=1)
            theirs = repository.due_emails(second, clock.now(), limit=10)
            assert len(mine) == len(theirs) == 1
            assert mine[0][0].id != theirs[0][0].id
    finally:
        engine.dispose()


def test_the_email_links_to_the_notification_at_the_address_the_server_is_served_on(
    world: World, mail_settings: Settings, clock: FrozenClock
) -> None:
    """Without a public URL, links name the address ``telehealth serve`` was told to bind
    (tests/test_cli.py checks ``serve`` applies it); opening the link leads to the page."""
    served = mail_settings.model_copy(update={"public_url": None}).served_at("127.0.0.1", 18701)
    with scope_for(served, clock) as scope:
        note = notify(
            scope, world["patient_a"].user_id, kind="visit_booked", title=TITLE, link="/visits/1"
        )
    with smtp_server(served.smtp_port) as mailbox:
        assert _send(served, clock) == 1
    [(_, content)] = mailbox.received
    body = message_from_bytes(content, policy=default).get_body()
    assert body is not None
    link = f"http://127.0.0.1:18701/notifications/{note.id}/open"
    assert link in body.get_content().split()
    assert "/visits/1" not in body.get_content()  # the object's page is behind sign-in


def test_a_public_url_wins_over_the_served_address(settings: Settings) -> None:
    public = settings.model_copy(update={"public_url": "https://care.example.org/"})
    wildcard = "0.0.0.0"  # noqa: S104 - an address to name, never bound
    assert public.served_at(wildcard, 9000).link("/x") == "https://care.example.org/x"
    unset = settings.model_copy(update={"public_url": None})
    assert unset.link("/x") == "http://127.0.0.1:8000/x"
    assert unset.served_at("::1", 9000).link("/x") == "http://[::1]:9000/x"


def test_a_notification_links_only_to_a_page_of_this_site(
    world: World, settings: Settings, clock: FrozenClock
) -> None:
    for link in ("https://elsewhere.example/", "//elsewhere.example/", "visits/1"):
        with (
            pytest.raises(ValueError, match="page of this site"),
            scope_for(settings, clock) as scope,
        ):
            notify(scope, world["patient_a"].user_id, kind="k", title=TITLE, link=link)
