"""Background jobs of the visits capability (registered with telehealth.jobs)."""

from __future__ import annotations

from datetime import timedelta

from telehealth import jobs
from telehealth.scope import Scope
from telehealth.visits import booking


@jobs.register("visits.reminders", every=timedelta(minutes=5))
def send_reminders(scope: Scope) -> int:
    """In-app reminders (and email when SMTP is configured) ahead of each booked visit."""
    return booking.send_reminders(scope, scope.settings.visits)
