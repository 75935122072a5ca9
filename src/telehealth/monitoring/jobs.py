"""Background jobs of the monitoring capability (registered with telehealth.jobs)."""

from __future__ import annotations

from datetime import timedelta

from telehealth import jobs
from telehealth.clock import ensure_utc
from telehealth.monitoring import model, repository
from telehealth.monitoring import service as monitoring
from telehealth.scope import Scope

NO_DATA_RULE = "no_data"


@jobs.register("monitoring.no_data_alerts", every=timedelta(hours=1))
def raise_no_data_alerts(scope: Scope) -> int:
    """One alert per silent device, raised again only after the previous one is resolved."""
    now = scope.clock.now()
    raised = 0
    for enrollment in repository.active_enrollments(scope.session):
        limits = monitoring.thresholds_for(scope, enrollment)
        unresolved = repository.unresolved_rules(scope.session, enrollment.id)
        for device in repository.devices_of(scope.session, [enrollment.id]):
            if device.revoked_at is not None or (NO_DATA_RULE, device.id) in unresolved:
                continue
            last = ensure_utc(device.last_received_at or device.created_at)
            if not model.silent_for(last, now, limits):
                continue
            monitoring.raise_alert(
                scope,
                enrollment,
                kind=model.AlertKind.NO_DATA,
                rule=NO_DATA_RULE,
                metric=None,
                limit=float(limits.no_data_days or 0),
                observed_at=last,
                value=None,
                device_id=device.id,
            )
            raised += 1
    return raised
