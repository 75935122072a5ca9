"""Ingestion: validate → store (idempotently) → evaluate thresholds → raise alerts.

A batch is all-or-nothing: if any reading is refused, nothing is stored and every refused
reading is named (index and code) so the device can drop exactly those and send the rest.
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from telehealth.audit.model import Action
from telehealth.clock import ensure_utc
from telehealth.monitoring import model, repository
from telehealth.monitoring import service as monitoring
from telehealth.monitoring.tables import Device, Enrollment
from telehealth.scope import Scope

MAX_READINGS = 1000
WEEK = timedelta(days=7)


@dataclass
class IngestResult:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    clock_skew: int = 0
    alerts: list[uuid.UUID] = field(default_factory=list)
    rejected: list[model.Rejection] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected


def validate(
    raws: Sequence[model.RawReading], enrollment: Enrollment, received_at: datetime
) -> tuple[list[tuple[int, model.Reading]], list[model.Rejection]]:
    checked: list[tuple[int, model.Reading]] = []
    rejected: list[model.Rejection] = []
    for raw in raws:
        try:
            reading = model.normalize(
                raw,
                received_at=received_at,
                episode_start=enrollment.episode_start,
                episode_end=enrollment.episode_end,
            )
        except model.ReadingRejected as exc:
            rejected.append(exc.rejection)
            continue
        checked.append((raw.index, reading))
    rejected.extend(model.check_pairs(checked))
    return checked, rejected


def ingest(
    scope: Scope,
    device: Device,
    enrollment: Enrollment,
    raws: Sequence[model.RawReading],
    parse_problems: Sequence[model.Rejection] = (),
) -> IngestResult:
    now = scope.clock.now()
    result = IngestResult(received=len(raws))
    checked, rejected = validate(raws, enrollment, now)
    result.rejected = [*parse_problems, *rejected]
    if result.rejected:
        return result
    rows, fresh = _rows(scope, device, enrollment, checked, now)
    repository.insert_readings(scope.session, rows)
    result.stored = len(fresh)
    result.duplicates = len(checked) - len(fresh)
    result.clock_skew = sum(1 for r in fresh if r.skewed)
    device.last_received_at = now
    if fresh:
        result.alerts = _evaluate(scope, enrollment, device, fresh)
    scope.audit.record(
        Action.CREATE,
        "monitoring_reading_batch",
        device.id,
        patient_id=enrollment.patient_id,
        detail={
            "stored": result.stored,
            "duplicates": result.duplicates,
            "clock_skew": result.clock_skew,
            "alerts": len(result.alerts),
        },
    )
    return result


def _rows(
    scope: Scope,
    device: Device,
    enrollment: Enrollment,
    checked: Sequence[tuple[int, model.Reading]],
    now: datetime,
) -> tuple[list[dict[str, object]], list[model.Reading]]:
    """Rows for the readings not stored yet: re-sent ones (and repeats in the batch) drop out.

    The insert still ignores conflicts, so a concurrent request storing the same reading
    cannot fail this one; that reading is then merely evaluated twice.
    """
    if not checked:
        return [], []
    times = [reading.effective_at for _, reading in checked]
    seen = repository.stored_keys(scope.session, device.id, min(times), max(times))
    rows: list[dict[str, object]] = []
    fresh: list[model.Reading] = []
    for _, reading in checked:
        key = (reading.effective_at, reading.code)
        if key in seen:
            continue
        seen.add(key)
        fresh.append(reading)
        rows.append(
            {
                "id": uuid.uuid4(),
                "device_id": device.id,
                "enrollment_id": enrollment.id,
                "patient_id": enrollment.patient_id,
                "code": reading.code,
                "metric": reading.metric.value,
                "value": reading.value,
                "unit": reading.unit,
                "effective_at": reading.effective_at,
                "effective_date": reading.effective_date,
                "received_at": now,
                "clock_skew": reading.skewed,
            }
        )
    return rows, fresh


def _evaluate(
    scope: Scope, enrollment: Enrollment, device: Device, fresh: Sequence[model.Reading]
) -> list[uuid.UUID]:
    """Judge each new reading at its own time; raise one alert per rule until it is resolved."""
    limits = monitoring.thresholds_for(scope, enrollment)
    breaches: list[model.Breach] = []
    for reading in fresh:
        breaches.extend(model.limit_breaches(reading, limits))
    breaches.extend(_weight_breaches(scope, enrollment, fresh, limits))
    if not breaches:
        return []
    unresolved = {rule for rule, _ in repository.unresolved_rules(scope.session, enrollment.id)}
    raised: list[uuid.UUID] = []
    for breach in sorted(breaches, key=lambda b: b.observed_at):
        if breach.rule in unresolved:
            continue
        unresolved.add(breach.rule)
        alert = monitoring.raise_alert(
            scope,
            enrollment,
            kind=model.AlertKind.THRESHOLD,
            rule=breach.rule,
            metric=breach.metric,
            limit=breach.limit,
            observed_at=breach.observed_at,
            value=breach.value,
            device_id=device.id,
        )
        raised.append(alert.id)
    return raised


def _within_week_after(times: Sequence[datetime], at: datetime) -> bool:
    """Whether ``at`` falls in the week following one of the (sorted) ``times``."""
    latest = bisect_right(times, at)
    return latest > 0 and at - times[latest - 1] <= WEEK


def _weight_breaches(
    scope: Scope, enrollment: Enrollment, fresh: Sequence[model.Reading], limits: model.Thresholds
) -> list[model.Breach]:
    weights = [r for r in fresh if r.metric is model.Metric.WEIGHT]
    if not weights or (limits.weight_gain_day_kg is None and limits.weight_gain_week_kg is None):
        return []
    first = min(r.effective_at for r in weights)
    last = max(r.effective_at for r in weights)
    known = repository.weights_between(scope.session, enrollment.id, first - WEEK, last + WEEK)
    history = [model.WeightPoint(ensure_utc(at), kg) for at, kg in known]
    new_times = sorted(r.effective_at for r in weights)
    # A late reading changes the baseline of readings after it: judge those again too.
    candidates = [p for p in history if _within_week_after(new_times, p.at)]
    return model.weight_breaches(candidates, history, limits)
