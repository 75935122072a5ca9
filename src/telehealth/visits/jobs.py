"""Background jobs of the visits capability (registered with telehealth.jobs)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from telehealth import jobs
from telehealth.identity import queries as identity_queries
from telehealth.notifications.service import notify_once
from telehealth.scope import Scope
from telehealth.visits import booking, repository, session_record


@jobs.register("visits.reminders", every=timedelta(minutes=5))
def send_reminders(scope: Scope) -> int:
    """In-app reminders (and email when SMTP is configured) ahead of each booked visit."""
    return booking.send_reminders(scope, scope.settings.visits)


REVISION_NOTICE = "rule_revision_impact"


@jobs.register("visits.rule_revision_impact", every=timedelta(hours=1))
def tell_coordinators_of_rule_changes(scope: Scope) -> int:
    """When a rule pack revision lands, tell each organization's coordinators how many
    upcoming visits it makes stricter (once per revision); the impact page lists them."""
    revision = scope.ports.ruleset.revision
    affected: dict[uuid.UUID, int] = {}
    for visit in repository.upcoming_of_org(scope.session, None, scope.clock.now()):
        if booking.revision_changes(scope, visit):
            affected[visit.org_id] = affected.get(visit.org_id, 0) + 1
    link = f"/admin/impact?revision={revision[:12]}"
    told = 0
    for org_id, count in affected.items():
        title = f"A rule update changes {count} upcoming visit{'' if count == 1 else 's'}"
        for coordinator in identity_queries.coordinators_of(scope.session, org_id):
            if notify_once(scope, coordinator, kind=REVISION_NOTICE, title=title, link=link):
                told += 1
    return told


@jobs.register(
    "visits.presence_sweep", every=lambda s: timedelta(seconds=s.visits.presence_sweep_seconds)
)
def sweep_lost_sockets(scope: Scope) -> int:
    """Writes the leave of every signaling socket whose instance died under it (its heartbeat
    stopped), at its last heartbeat, so the session record shows the gap."""
    return session_record.sweep_lost_sockets(scope)
