"""Mailer port: hands a composed email to a mail server.

``SmtpMailer`` is the real one; ``MemoryMailer`` keeps what it was given, for tests.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from smtplib import SMTPException
from typing import Protocol

from telehealth.config import Settings

# Seconds before a connection to the mail server gives up.
SMTP_TIMEOUT = 10

__all__ = ["SMTP_TIMEOUT", "Mailer", "MemoryMailer", "SMTPException", "SmtpMailer"]


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Delivers ``message`` or raises ``OSError``/``smtplib.SMTPException``."""


class SmtpMailer:
    """One connection per message: emails are few, and a held connection would go stale."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def send(self, message: EmailMessage) -> None:
        settings = self._settings
        if settings.smtp_host is None:
            raise SMTPException("no SMTP host is configured")
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT) as smtp:
            if settings.smtp_user and settings.smtp_password:
                smtp.starttls()
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            smtp.send_message(message)


class MemoryMailer:
    """Keeps every message it is given, in order."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)
