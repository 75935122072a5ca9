"""Background jobs of the FHIR API (registered with telehealth.jobs): Bulk Data exports."""

from __future__ import annotations

from datetime import timedelta

from telehealth import jobs
from telehealth.fhir import bulk
from telehealth.scope import Scope


@jobs.register("fhir.run_exports", every=timedelta(seconds=30))
def run_exports(scope: Scope) -> int:
    """Runs the bulk exports waiting, each acting as its requester."""
    return bulk.run_accepted(scope)


@jobs.register("fhir.expire_exports", every=timedelta(minutes=15))
def expire_exports(scope: Scope) -> int:
    """Exports past TELEHEALTH_FHIR_EXPORT_HOURS lose their files."""
    return bulk.expire(scope)
