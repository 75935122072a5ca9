"""Background jobs of the review capability (registered with telehealth.jobs)."""

from __future__ import annotations

from datetime import timedelta

from telehealth import jobs
from telehealth.review import service, uploads
from telehealth.scope import Scope


@jobs.register("review.escalate_overdue", every=timedelta(minutes=5))
def escalate_overdue(scope: Scope) -> int:
    """Cases past their turnaround target are brought to every coordinator's attention once."""
    return service.escalate_overdue(scope)


@jobs.register("review.release_lapsed_claims", every=timedelta(minutes=1))
def release_lapsed_claims(scope: Scope) -> int:
    """A claim nobody acted on lapses: the case goes back to its specialty queue."""
    return service.release_lapsed_claims(scope)


@jobs.register("review.expire_uploads", every=timedelta(minutes=15))
def expire_uploads(scope: Scope) -> int:
    """Unfinished uploads past their expiry lose their staged bytes."""
    return uploads.expire_uploads(scope)
