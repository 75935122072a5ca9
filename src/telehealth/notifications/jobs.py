"""Background jobs of the notifications capability (registered with telehealth.jobs)."""

from __future__ import annotations

from datetime import timedelta

from telehealth import jobs
from telehealth.notifications import service
from telehealth.scope import Scope


@jobs.register("notifications.send_emails", every=timedelta(seconds=30))
def send_emails(scope: Scope) -> int:
    """Emails owed for notifications go out; failed ones are retried with back-off."""
    return service.send_pending(scope)
