"""Queries over monitoring tables. Nothing else in the package builds SQL."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from telehealth.access.queries import listed_by
from telehealth.clock import ensure_utc
from telehealth.db.base import grouped, insert_ignoring_duplicates, table_of
from telehealth.db.engine import read_columns
from telehealth.identity.model import Actor
from telehealth.identity.queries import Patient, patients_in_care_of
from telehealth.monitoring.model import (
    BP_PANEL,
    CODE_OF,
    AlertStatus,
    Metric,
    ReadingFilter,
    ShownAlert,
    ShownReading,
)
from telehealth.monitoring.tables import (
    Alert,
    Device,
    Enrollment,
    Message,
    Reading,
    ThresholdSet,
    TimeEntry,
    VisitRequest,
)

UNRESOLVED = (AlertStatus.OPEN.value, AlertStatus.ACKNOWLEDGED.value, AlertStatus.ESCALATED.value)

# The statements every monitoring page runs are built once, with bound parameters: building a
# statement and its cache key costs more than running it.
_ENROLLMENTS_OF = (
    select(Enrollment)
    .where(Enrollment.patient_id == bindparam("patient_id"))
    .order_by(Enrollment.episode_start.desc(), Enrollment.id)
)
_THRESHOLD_SET = select(ThresholdSet).where(
    ThresholdSet.org_id == bindparam("org_id"), ThresholdSet.program == bindparam("program")
)
# Reads of columns only (no ORM rows) are Core statements on the tables' columns, run on the
# session's connection by read_columns.
_THRESHOLDS = table_of(ThresholdSet).c
_THRESHOLD_LIMITS = select(_THRESHOLDS.limits).where(
    _THRESHOLDS.org_id == bindparam("org_id"), _THRESHOLDS.program == bindparam("program")
)
_READINGS = table_of(Reading).c
_SHOWN_READINGS = (
    select(
        _READINGS.effective_at,
        _READINGS.metric,
        _READINGS.value,
        _READINGS.unit,
        _READINGS.clock_skew,
    )
    .where(
        _READINGS.enrollment_id == bindparam("enrollment_id"),
        _READINGS.effective_at >= bindparam("start"),
        _READINGS.effective_at < bindparam("end"),
    )
    .order_by(_READINGS.effective_at, _READINGS.code)
    .limit(bindparam("limit"))
)


_ALERTS_OF = (
    select(Alert)
    .where(Alert.enrollment_id == bindparam("enrollment_id"))
    .order_by(Alert.created_at.desc(), Alert.id)
    .limit(bindparam("limit"))
)
_ALERTS = table_of(Alert).c
_SHOWN_ALERTS = (
    select(
        _ALERTS.observed_at,
        _ALERTS.rule,
        _ALERTS.limit_value,
        _ALERTS.status,
        _ALERTS.observed_value,
        _ALERTS.metric,
        _ALERTS.id,
    )
    .where(_ALERTS.enrollment_id == bindparam("enrollment_id"))
    .order_by(_ALERTS.created_at.desc(), _ALERTS.id)
    .limit(bindparam("limit"))
)


def enrollment(session: Session, enrollment_id: uuid.UUID) -> Enrollment | None:
    return session.get(Enrollment, enrollment_id)


def enrollments_of(session: Session, patient_id: uuid.UUID) -> Sequence[Enrollment]:
    return session.execute(_ENROLLMENTS_OF, {"patient_id": patient_id}).scalars().all()


def enrollments_listed(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    patient_ids: Sequence[uuid.UUID] | None,
    consent_since: datetime | None,
    consent_before: datetime | None,
    limit: int | None,
) -> Sequence[Enrollment]:
    """The enrollments the actor may read (:func:`listed_by`, the enrolling clinician named),
    by when their consent was given; narrowed to ``patient_ids`` and to ``consent_since <=
    consent_at < consent_before``."""
    query = select(Enrollment).where(
        listed_by(
            actor,
            now,
            org_id=Enrollment.org_id,
            patient_id=Enrollment.patient_id,
            named=Enrollment.clinician_id,
        )
    )
    if patient_ids is not None:
        query = query.where(Enrollment.patient_id.in_(patient_ids))
    if consent_since is not None:
        query = query.where(Enrollment.consent_at >= consent_since)
    if consent_before is not None:
        query = query.where(Enrollment.consent_at < consent_before)
    query = query.order_by(Enrollment.consent_at, Enrollment.id)
    if limit is not None:
        query = query.limit(limit)
    return session.execute(query).scalars().all()


def active_enrollment(session: Session, patient_id: uuid.UUID, program: str) -> Enrollment | None:
    return session.execute(
        select(Enrollment)
        .where(
            Enrollment.patient_id == patient_id,
            Enrollment.program == program,
            Enrollment.status == "active",
        )
        .limit(1)
    ).scalar_one_or_none()


def active_enrollments(session: Session) -> Sequence[Enrollment]:
    return (
        session.execute(
            select(Enrollment).where(Enrollment.status == "active").order_by(Enrollment.id)
        )
        .scalars()
        .all()
    )


def active_enrollments_of_org(session: Session, org_id: uuid.UUID) -> Sequence[Enrollment]:
    """The organization's active enrollments, oldest episode first."""
    return (
        session.execute(
            select(Enrollment)
            .where(Enrollment.org_id == org_id, Enrollment.status == "active")
            .order_by(Enrollment.episode_start, Enrollment.id)
        )
        .scalars()
        .all()
    )


def panel_enrollments(
    session: Session,
    org_id: uuid.UUID,
    clinician_id: uuid.UUID | None,
    limit: int,
    *,
    now: datetime,
) -> Sequence[tuple[Enrollment, Patient]]:
    """An organization's active enrollments with their patients, or only those on a clinician's
    panel (``clinician_id``; see :func:`_on_clinicians_panel`)."""
    params: dict[str, Any] = {"org_id": org_id, "limit": limit}
    if clinician_id is None:
        rows = session.execute(_ORG_PANEL, params).all()
    else:
        rows = session.execute(
            _CLINICIAN_PANEL, {**params, "clinician_id": clinician_id, "care_now": now}
        ).all()
    return [(row[0], row[1]) for row in rows]


def _panel(of_clinician: bool) -> Select[Enrollment, Patient]:
    query = (
        select(Enrollment, Patient)
        .join(Patient, Patient.id == Enrollment.patient_id)
        .where(Enrollment.org_id == bindparam("org_id"), Enrollment.status == "active")
    )
    if of_clinician:
        query = query.where(_on_clinicians_panel())
    return query.order_by(Enrollment.id).limit(bindparam("limit"))


def _on_clinicians_panel() -> ColumnElement[bool]:
    """Whether an enrollment is on the panel of the clinician bound as ``clinician_id``: its
    patient is in their care now, or they enrolled the patient (the read rule names them, so
    the enrollment stays theirs when care ends). An emergency grant puts nothing on a panel."""
    clinician = bindparam("clinician_id", type_=Enrollment.clinician_id.type)
    return or_(
        Enrollment.patient_id.in_(patients_in_care_of(clinician)),
        Enrollment.clinician_id == clinician,
    )


# The panel's statements, built once (see above).
_ORG_PANEL = _panel(of_clinician=False)
_CLINICIAN_PANEL = _panel(of_clinician=True)


def open_alerts(
    session: Session,
    org_id: uuid.UUID,
    states: Sequence[str],
    clinician_id: uuid.UUID | None,
    limit: int,
    *,
    now: datetime,
) -> list[tuple[Alert, str, str]]:
    """Unhandled alerts of an organization, or of one clinician's panel, oldest first, with
    the patient's given and family names (the names only: a row entity costs more to load)."""
    params = {"org_id": org_id, "states": list(states), "limit": limit}
    if clinician_id is None:
        rows = session.execute(_ORG_OPEN_ALERTS, params).all()
    else:
        rows = session.execute(
            _PANEL_OPEN_ALERTS, {**params, "clinician_id": clinician_id, "care_now": now}
        ).all()
    return [(alert, given, family) for alert, given, family in rows]


def _open_alerts_of(panel: bool) -> Select[Alert, str, str]:
    query = (
        select(Alert, Patient.given_name, Patient.family_name)
        .join(Patient, Patient.id == Alert.patient_id)
        .where(
            Alert.org_id == bindparam("org_id"),
            Alert.status.in_(bindparam("states", expanding=True)),
        )
    )
    if panel:
        query = query.join(Enrollment, Enrollment.id == Alert.enrollment_id).where(
            _on_clinicians_panel()
        )
    return query.order_by(Alert.observed_at, Alert.id).limit(bindparam("limit"))


# The dashboards' alert lists, built once (see above).
_ORG_OPEN_ALERTS = _open_alerts_of(panel=False)
_PANEL_OPEN_ALERTS = _open_alerts_of(panel=True)
_PANEL_DAYS = (
    select(_READINGS.enrollment_id, _READINGS.effective_date)
    .where(
        _READINGS.enrollment_id.in_(bindparam("ids", expanding=True)),
        _READINGS.effective_date >= bindparam("start"),
        _READINGS.effective_date <= bindparam("end"),
    )
    .distinct()
)
_OPEN_ALERT_COUNTS = (
    select(_ALERTS.enrollment_id, func.count())
    .where(
        _ALERTS.enrollment_id.in_(bindparam("ids", expanding=True)),
        _ALERTS.status.in_(UNRESOLVED),
    )
    .group_by(_ALERTS.enrollment_id)
)
_TIME_ENTRIES_OF = (
    select(TimeEntry)
    .where(
        TimeEntry.enrollment_id.in_(bindparam("ids", expanding=True)),
        TimeEntry.performed_on >= bindparam("start"),
        TimeEntry.performed_on <= bindparam("end"),
    )
    .order_by(TimeEntry.performed_on, TimeEntry.created_at)
)


def threshold_limits(session: Session, org_id: uuid.UUID, program: str) -> dict[str, Any] | None:
    """The limits an organization set for a program, or None (only that column is read)."""
    limits: dict[str, Any] | None = read_columns(
        session, _THRESHOLD_LIMITS, {"org_id": org_id, "program": program}
    ).scalar_one_or_none()
    return limits


def threshold_set(session: Session, org_id: uuid.UUID, program: str) -> ThresholdSet | None:
    return session.execute(
        _THRESHOLD_SET, {"org_id": org_id, "program": program}
    ).scalar_one_or_none()


def device(session: Session, device_id: uuid.UUID) -> Device | None:
    return session.get(Device, device_id)


def device_by_digest(session: Session, token_hash: bytes) -> Device | None:
    return session.execute(
        select(Device).where(Device.token_hash == token_hash)
    ).scalar_one_or_none()


def devices_of(session: Session, enrollment_ids: Sequence[uuid.UUID]) -> Sequence[Device]:
    """The devices of some enrollments, in the order they were assigned."""
    return (
        session.execute(
            select(Device)
            .where(Device.enrollment_id.in_(enrollment_ids))
            .order_by(Device.created_at, Device.id)
        )
        .scalars()
        .all()
    )


def stored_keys(
    session: Session, device_id: uuid.UUID, start: datetime, end: datetime
) -> set[tuple[datetime, str]]:
    rows = session.execute(
        select(Reading.effective_at, Reading.code).where(
            Reading.device_id == device_id,
            Reading.effective_at >= start,
            Reading.effective_at <= end,
        )
    ).all()
    return {(ensure_utc(row[0]), row[1]) for row in rows}


def insert_readings(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert, skipping any reading already stored (the unique key decides, on both backends)."""
    if rows:
        statement = insert_ignoring_duplicates(
            session, Reading, ["device_id", "effective_at", "code"]
        )
        session.execute(statement, rows)


def weights_between(
    session: Session, enrollment_id: uuid.UUID, start: datetime, end: datetime
) -> Sequence[tuple[datetime, float]]:
    rows = session.execute(
        select(Reading.effective_at, Reading.value).where(
            Reading.enrollment_id == enrollment_id,
            Reading.metric == Metric.WEIGHT.value,
            Reading.effective_at >= start,
            Reading.effective_at <= end,
        )
    ).all()
    return [(row[0], row[1]) for row in rows]


def readings_of(session: Session, where: ReadingFilter) -> list[Reading]:
    """The readings of a list, in one statement (see :class:`ReadingFilter`): with panels, each
    blood-pressure pair comes as its systolic reading followed by its diastolic one."""
    shape, params = _reading_list(where)
    result = session.execute(_readings_statement(shape), params)
    if not where.panels:
        return list(result.scalars().all())
    out: list[Reading] = []
    for item, component in result:
        out.append(item)
        if component is not None:
            out.append(component)
    return out


_SYSTOLIC, _DIASTOLIC = CODE_OF[Metric.SYSTOLIC], CODE_OF[Metric.DIASTOLIC]


class _Shape(NamedTuple):
    """Which parts of a reading list's statement a filter uses: the statement of each shape is
    built once (building one costs more than running it) and bound to the filter's values."""

    panels: bool
    newest_first: bool
    enrollments: bool
    ids: bool
    device: bool
    start: bool
    end: bool
    codes: bool  # the list is narrowed by code (to nothing when no item below is wanted)
    stored_codes: bool  # by stored codes (without panels, every code; with them, but the two below)
    panel_code: bool  # with panels: BP_PANEL, a pair
    lone_systolic: bool  # with panels: a systolic reading without its diastolic one


def _reading_list(where: ReadingFilter) -> tuple[_Shape, dict[str, Any]]:
    codes = list(where.codes) if where.codes is not None else None
    stored = codes
    if where.panels and codes is not None:
        stored = [c for c in codes if c not in (BP_PANEL, _SYSTOLIC)]
    shape = _Shape(
        panels=where.panels,
        newest_first=where.newest_first,
        enrollments=where.enrollment_ids is not None,
        ids=where.ids is not None,
        device=where.device_id is not None,
        start=where.start is not None,
        end=where.end is not None,
        codes=codes is not None,
        stored_codes=bool(stored),
        panel_code=where.panels and codes is not None and BP_PANEL in codes,
        lone_systolic=where.panels and codes is not None and _SYSTOLIC in codes,
    )
    params: dict[str, Any] = {
        "enrollment_ids": list(where.enrollment_ids or ()),
        "ids": list(where.ids or ()),
        "device_id": where.device_id,
        "start": where.start,
        "end": where.end,
        "codes": stored or [],
        "limit": where.limit,
        "offset": where.offset,
    }
    return shape, params


@functools.cache
def _readings_statement(shape: _Shape) -> Select[*tuple[Any, ...]]:
    lead = Reading
    query: Select[*tuple[Any, ...]]
    wanted: list[ColumnElement[bool]] = []
    if shape.panels:
        partner = aliased(Reading)
        twin = aliased(Reading)
        paired = partner.id.is_not(None)
        query = (
            select(lead, partner)
            .outerjoin(
                partner,
                and_(
                    lead.code == _SYSTOLIC,
                    partner.code == _DIASTOLIC,
                    partner.device_id == lead.device_id,
                    partner.effective_at == lead.effective_at,
                ),
            )
            .where(
                # A diastolic reading with its systolic one is a component, not an item.
                or_(
                    lead.code != _DIASTOLIC,
                    ~exists().where(
                        twin.code == _SYSTOLIC,
                        twin.device_id == lead.device_id,
                        twin.effective_at == lead.effective_at,
                    ),
                )
            )
        )
        if shape.panel_code:
            wanted.append(and_(lead.code == _SYSTOLIC, paired))
        if shape.lone_systolic:
            wanted.append(and_(lead.code == _SYSTOLIC, ~paired))
    else:
        query = select(lead)
    if shape.stored_codes:
        wanted.append(lead.code.in_(bindparam("codes", expanding=True)))
    if shape.codes:
        query = query.where(or_(false(), *wanted))
    if shape.enrollments:
        query = query.where(lead.enrollment_id.in_(bindparam("enrollment_ids", expanding=True)))
    if shape.ids:
        query = query.where(lead.id.in_(bindparam("ids", expanding=True)))
    if shape.device:
        query = query.where(lead.device_id == bindparam("device_id"))
    if shape.start:
        query = query.where(lead.effective_at >= bindparam("start"))
    if shape.end:
        query = query.where(lead.effective_at < bindparam("end"))
    if shape.newest_first:
        query = query.order_by(lead.effective_at.desc(), lead.code, lead.id)
    else:
        query = query.order_by(lead.effective_at, lead.code)
    return query.limit(bindparam("limit")).offset(bindparam("offset"))


def shown_readings(
    session: Session, enrollment_id: uuid.UUID, start: datetime, end: datetime, limit: int
) -> list[ShownReading]:
    """The readings of :func:`readings_of`, only the columns pages show (no ORM rows)."""
    rows = read_columns(
        session,
        _SHOWN_READINGS,
        {"enrollment_id": enrollment_id, "start": start, "end": end, "limit": limit},
    ).all()
    return [ShownReading._make(row) for row in rows]


def reading_days(
    session: Session, enrollment_id: uuid.UUID, start: date, end: date
) -> Sequence[date]:
    return reading_days_of(session, [enrollment_id], start, end).get(enrollment_id, [])


def reading_days_of(
    session: Session, enrollment_ids: list[uuid.UUID], start: date, end: date
) -> dict[uuid.UUID, list[date]]:
    """The days with readings of several enrollments in one query, by enrollment."""
    if not enrollment_ids:
        return {}
    rows = read_columns(session, _PANEL_DAYS, {"ids": enrollment_ids, "start": start, "end": end})
    return grouped((enrollment_id, day) for enrollment_id, day in rows)


def unresolved_rules(session: Session, enrollment_id: uuid.UUID) -> set[tuple[str, Any]]:
    rows = session.execute(
        select(Alert.rule, Alert.device_id).where(
            Alert.enrollment_id == enrollment_id, Alert.status.in_(UNRESOLVED)
        )
    ).all()
    return {(row[0], row[1]) for row in rows}


def alert(session: Session, alert_id: uuid.UUID) -> Alert | None:
    return session.get(Alert, alert_id)


def alerts_of(session: Session, enrollment_id: uuid.UUID, limit: int) -> Sequence[Alert]:
    return (
        session.execute(_ALERTS_OF, {"enrollment_id": enrollment_id, "limit": limit})
        .scalars()
        .all()
    )


def shown_alerts(session: Session, enrollment_id: uuid.UUID, limit: int) -> list[ShownAlert]:
    """The alerts of :func:`alerts_of`, only the columns pages show (no ORM rows)."""
    rows = read_columns(
        session, _SHOWN_ALERTS, {"enrollment_id": enrollment_id, "limit": limit}
    ).all()
    return [ShownAlert._make(row) for row in rows]


def open_alert_counts(session: Session, enrollment_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not enrollment_ids:
        return {}
    rows = read_columns(session, _OPEN_ALERT_COUNTS, {"ids": enrollment_ids})
    return {row[0]: int(row[1]) for row in rows}


def running_timer(
    session: Session, enrollment_id: uuid.UUID, clinician_id: uuid.UUID
) -> TimeEntry | None:
    return session.execute(
        select(TimeEntry)
        .where(
            TimeEntry.enrollment_id == enrollment_id,
            TimeEntry.clinician_id == clinician_id,
            TimeEntry.source == "timer",
            TimeEntry.ended_at.is_(None),
        )
        .limit(1)
    ).scalar_one_or_none()


def time_entries(
    session: Session, enrollment_id: uuid.UUID, start: date, end: date
) -> Sequence[TimeEntry]:
    return time_entries_of(session, [enrollment_id], start, end).get(enrollment_id, [])


def time_entries_of(
    session: Session, enrollment_ids: list[uuid.UUID], start: date, end: date
) -> dict[uuid.UUID, list[TimeEntry]]:
    """The time entries of several enrollments in one query, by enrollment."""
    if not enrollment_ids:
        return {}
    rows = session.execute(
        _TIME_ENTRIES_OF, {"ids": enrollment_ids, "start": start, "end": end}
    ).scalars()
    return grouped((entry.enrollment_id, entry) for entry in rows)


def open_visit_request(session: Session, alert_id: uuid.UUID) -> VisitRequest | None:
    return session.execute(
        select(VisitRequest)
        .where(VisitRequest.alert_id == alert_id, VisitRequest.status == "requested")
        .limit(1)
    ).scalar_one_or_none()


def messages_of(session: Session, enrollment_id: uuid.UUID, limit: int) -> Sequence[Message]:
    return (
        session.execute(
            select(Message)
            .where(Message.enrollment_id == enrollment_id)
            .order_by(Message.created_at, Message.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )


def requested_alerts(session: Session, enrollment_id: uuid.UUID) -> set[uuid.UUID]:
    """The alerts of an enrollment with a visit requested and not yet scheduled or cancelled."""
    rows = session.execute(
        select(VisitRequest.alert_id).where(
            VisitRequest.enrollment_id == enrollment_id, VisitRequest.status == "requested"
        )
    ).all()
    return {row[0] for row in rows}


def patients_to_enrol(
    session: Session, org_id: uuid.UUID, clinician_id: uuid.UUID, now: datetime, limit: int
) -> list[tuple[uuid.UUID, str, str]]:
    """The patients of the organization in the clinician's care now (whom they may enrol):
    id, given and family name, by name."""
    rows = session.execute(
        select(Patient.id, Patient.given_name, Patient.family_name)
        .where(Patient.org_id == org_id, Patient.id.in_(patients_in_care_of(clinician_id, now)))
        .order_by(Patient.family_name, Patient.given_name, Patient.id)
        .limit(limit)
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]
