"""A live server that sends its notifications' emails to a real SMTP server on loopback."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Environment, Settings
from telehealth.jobs import registered, run_job
from tests.notifications.smtp import Mailbox, free_port, smtp_server
from tests.portal.live import Live
from tests.serving import serving
from tests.support import seed_world


@contextmanager
def mailing_server(template: Path, workdir: Path) -> Iterator[tuple[Live, Mailbox]]:
    """The app served as ``telehealth serve --port N`` serves it, with no public URL and an
    SMTP server to send to."""
    database = workdir / "live.db"
    shutil.copyfile(template, database)
    port = free_port()
    settings = Settings(
        env=Environment.TEST,
        data_dir=workdir / "data",
        database_url=f"sqlite:///{database}",
        api_token_minutes=24 * 60,
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        public_url=None,
    ).served_at("127.0.0.1", port)
    world = seed_world(settings, FrozenClock(datetime.now(UTC)), with_passwords=True)
    app = create_app(settings)
    with smtp_server(settings.smtp_port) as mailbox, serving(app, port) as url:
        yield Live(url, app, world), mailbox


def send_emails(live: Live) -> None:
    """Runs the email sender once, as the worker would; at least one email must go."""
    [sender] = [job for job in registered() if job.name == "notifications.send_emails"]
    services = live.app.state.services
    assert run_job(sender, services.sessions, services.ports) >= 1


def link_to(mailbox: Mailbox, address: str) -> str:
    """The link in the first email the SMTP server accepted for ``address``."""
    for recipients, content in mailbox.received:
        if recipients == [address]:
            body = message_from_bytes(content, policy=default).get_body()
            assert body is not None
            found = re.search(r"http://\S+", body.get_content())
            assert found is not None
            return found.group()
    raise AssertionError(f"no email to {address}")
