"""Queries over the visits tables. Nothing else in the package builds SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from telehealth.access.queries import listed_by, reached_by
from telehealth.db.base import grouped
from telehealth.identity.model import Actor
from telehealth.visits.model import VisitFilter, VisitStatus
from telehealth.visits.tables import (
    AvailabilityWindow,
    Consent,
    ModalityChangeRow,
    NoteAmendment,
    Participant,
    PrecallTest,
    PresenceEvent,
    Visit,
    VisitMessage,
    VisitNote,
)


def windows_of(session: Session, clinician_id: uuid.UUID) -> Sequence[AvailabilityWindow]:
    return (
        session.execute(
            select(AvailabilityWindow)
            .where(AvailabilityWindow.clinician_id == clinician_id)
            .order_by(AvailabilityWindow.weekday, AvailabilityWindow.start_time)
        )
        .scalars()
        .all()
    )


def windows_of_clinicians(
    session: Session, clinician_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[AvailabilityWindow]]:
    """:func:`windows_of` of several clinicians in one query, by clinician."""
    if not clinician_ids:
        return {}
    rows = session.execute(
        select(AvailabilityWindow)
        .where(AvailabilityWindow.clinician_id.in_(clinician_ids))
        .order_by(AvailabilityWindow.weekday, AvailabilityWindow.start_time)
    ).scalars()
    return {c: [] for c in clinician_ids} | grouped((w.clinician_id, w) for w in rows)


def window_by_id(session: Session, window_id: uuid.UUID) -> AvailabilityWindow | None:
    return session.get(AvailabilityWindow, window_id)


def held_slots(
    session: Session, clinician_id: uuid.UUID, start: datetime, end: datetime
) -> Sequence[datetime]:
    return (
        session.execute(
            select(Visit.slot_start).where(
                Visit.clinician_id == clinician_id,
                Visit.held_slot.is_not(None),
                Visit.slot_start >= start,
                Visit.slot_start < end,
            )
        )
        .scalars()
        .all()
    )


def visit_by_id(session: Session, visit_id: uuid.UUID, *, lock: bool = False) -> Visit | None:
    if lock:
        return session.execute(
            select(Visit).where(Visit.id == visit_id).with_for_update()
        ).scalar_one_or_none()
    return session.get(Visit, visit_id)


def _visit_pages(*conditions: ColumnElement[bool]) -> dict[bool, Select[Visit]]:
    """A visit list's statement without and with (True) a status filter, built once with bound
    parameters: building a statement and its cache key costs more than running it."""
    listed = select(Visit).where(*conditions)
    return {
        with_status: (listed.where(Visit.status == bindparam("status")) if with_status else listed)
        .order_by(Visit.slot_start, Visit.id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        for with_status in (False, True)
    }


_CLINICIAN = bindparam("clinician_id", type_=Visit.clinician_id.type)
# Whose visits each list holds: one condition per audience, shared by the lists built once
# and the filtered ones (:class:`VisitFilter`).
_OF_PATIENT = (Visit.patient_id == bindparam("patient_id"),)
_OF_CLINICIAN = (
    Visit.org_id == bindparam("org_id"),
    or_(Visit.clinician_id == _CLINICIAN, reached_by(Visit.patient_id, _CLINICIAN)),
)
_OF_ORG = (Visit.org_id == bindparam("org_id"),)
_PATIENT_VISITS = (_OF_PATIENT, _visit_pages(*_OF_PATIENT))
_CLINICIAN_VISITS = (_OF_CLINICIAN, _visit_pages(*_OF_CLINICIAN))
_ORG_VISITS = (_OF_ORG, _visit_pages(*_OF_ORG))
_Lists = tuple[tuple[ColumnElement[bool], ...], dict[bool, Select[Visit]]]


def visits_of_patient(
    session: Session,
    patient_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    offset: int,
    where: VisitFilter | None = None,
) -> Sequence[Visit]:
    return _visit_page(
        session, _PATIENT_VISITS, status, limit, offset, where, patient_id=patient_id
    )


def visits_of_clinician(
    session: Session,
    org_id: uuid.UUID,
    clinician_id: uuid.UUID,
    status: str | None,
    limit: int,
    offset: int,
    *,
    now: datetime,
    where: VisitFilter | None = None,
) -> Sequence[Visit]:
    """The visits a clinician conducts, and those of the patients in their care at ``now``."""
    return _visit_page(
        session,
        _CLINICIAN_VISITS,
        status,
        limit,
        offset,
        where,
        org_id=org_id,
        clinician_id=clinician_id,
        care_now=now,
    )


def visits_of_org(
    session: Session,
    org_id: uuid.UUID,
    status: str | None,
    limit: int,
    offset: int,
    where: VisitFilter | None = None,
) -> Sequence[Visit]:
    return _visit_page(session, _ORG_VISITS, status, limit, offset, where, org_id=org_id)


def upcoming_of_org(session: Session, org_id: uuid.UUID | None, now: datetime) -> Sequence[Visit]:
    """The organization's (every organization's: None) booked visits whose slot starts after
    ``now``, by slot."""
    query = select(Visit).where(Visit.status == VisitStatus.BOOKED.value, Visit.slot_start > now)
    if org_id is not None:
        query = query.where(Visit.org_id == org_id)
    return session.scalars(query.order_by(Visit.slot_start, Visit.id)).all()


def _visit_page(
    session: Session,
    lists: _Lists,
    status: str | None,
    limit: int,
    offset: int,
    where: VisitFilter | None,
    **params: Any,
) -> Sequence[Visit]:
    params.update(limit=limit, offset=offset)
    if status is not None:
        params["status"] = status
    conditions, statements = lists
    if where is None:
        return session.scalars(statements[status is not None], params).all()
    query = _filtered(select(Visit).where(*conditions), where)
    if status is not None:
        query = query.where(Visit.status == bindparam("status"))
    moment = (
        Visit.ended_at if where.by_end else Visit.started_at if where.by_start else Visit.slot_start
    )
    order = (moment.desc(), Visit.id.desc()) if where.newest_first else (moment, Visit.id)
    query = query.order_by(*order).limit(bindparam("limit")).offset(bindparam("offset"))
    return session.scalars(query, params).all()


def _filtered(query: Select[Visit], where: VisitFilter) -> Select[Visit]:
    if where.ids is not None:
        query = query.where(Visit.id.in_(where.ids))
    if where.patient_ids is not None:
        query = query.where(Visit.patient_id.in_(where.patient_ids))
    if where.clinician_ids is not None:
        query = query.where(Visit.clinician_id.in_(where.clinician_ids))
    if where.statuses is not None:
        query = query.where(Visit.status.in_(where.statuses))
    if where.slot_from is not None:
        query = query.where(Visit.slot_start >= where.slot_from)
    if where.slot_before is not None:
        query = query.where(Visit.slot_start < where.slot_before)
    if where.started_from is not None:
        query = query.where(Visit.started_at >= where.started_from)
    if where.started_before is not None:
        query = query.where(Visit.started_at < where.started_before)
    if where.coded:
        query = query.where(Visit.coding.is_not(None), Visit.ended_at.is_not(None))
    if where.ended_from is not None:
        query = query.where(Visit.ended_at >= where.ended_from)
    if where.ended_before is not None:
        query = query.where(Visit.ended_at < where.ended_before)
    return query


def participants_of(session: Session, visit_id: uuid.UUID) -> Sequence[Participant]:
    return (
        session.execute(
            select(Participant)
            .where(Participant.visit_id == visit_id)
            .order_by(Participant.created_at, Participant.id)
        )
        .scalars()
        .all()
    )


def participant_counts(
    session: Session, visit_ids: Sequence[uuid.UUID], state: str
) -> dict[uuid.UUID, int]:
    """How many participants of each visit are in ``state``; visits with none are left out."""
    if not visit_ids:
        return {}
    rows = session.execute(_PARTICIPANT_COUNTS, {"visit_ids": list(visit_ids), "state": state})
    return {row[0]: int(row[1]) for row in rows}


# The dashboards' waiting-room counts, built once.
_PARTICIPANT_COUNTS = (
    select(Participant.visit_id, func.count())
    .where(
        Participant.visit_id.in_(bindparam("visit_ids", expanding=True)),
        Participant.state == bindparam("state"),
    )
    .group_by(Participant.visit_id)
)


def participant_by_digest(session: Session, digest: bytes) -> Participant | None:
    return session.execute(
        select(Participant).where(Participant.token_hash == digest)
    ).scalar_one_or_none()


def participant_by_id(session: Session, participant_id: uuid.UUID) -> Participant | None:
    return session.get(Participant, participant_id)


def participant_of_user(
    session: Session, visit_id: uuid.UUID, user_id: uuid.UUID
) -> Participant | None:
    return session.execute(
        select(Participant)
        .where(Participant.visit_id == visit_id, Participant.user_id == user_id)
        .order_by(Participant.created_at)
        .limit(1)
    ).scalar_one_or_none()


def presence_of(session: Session, visit_id: uuid.UUID) -> Sequence[PresenceEvent]:
    return (
        session.execute(
            select(PresenceEvent)
            .where(PresenceEvent.visit_id == visit_id)
            .order_by(PresenceEvent.at, PresenceEvent.id)
        )
        .scalars()
        .all()
    )


def open_join(session: Session, connection_id: str) -> PresenceEvent | None:
    """The join of the socket ``connection_id`` while the socket is open (no leave yet)."""
    return session.execute(
        select(PresenceEvent).where(
            PresenceEvent.connection_id == connection_id, PresenceEvent.last_seen.is_not(None)
        )
    ).scalar_one_or_none()


def open_joins(
    session: Session,
    *,
    participant_id: uuid.UUID | None = None,
    seen_before: datetime | None = None,
) -> Sequence[PresenceEvent]:
    """Joins of open sockets: of one participant, and/or whose last heartbeat is older than
    ``seen_before``, oldest heartbeat first."""
    query = select(PresenceEvent).where(PresenceEvent.last_seen.is_not(None))
    if participant_id is not None:
        query = query.where(PresenceEvent.participant_id == participant_id)
    if seen_before is not None:
        query = query.where(PresenceEvent.last_seen < seen_before)
    return (
        session.execute(query.order_by(PresenceEvent.last_seen, PresenceEvent.id)).scalars().all()
    )


def beat(session: Session, connection_ids: Sequence[str], now: datetime) -> int:
    """Refreshes the heartbeat of those of the sockets that are still open."""
    if not connection_ids:
        return 0
    result = session.execute(
        update(PresenceEvent)
        .where(
            PresenceEvent.connection_id.in_(connection_ids), PresenceEvent.last_seen.is_not(None)
        )
        .values(last_seen=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of an UPDATE


def close_socket(session: Session, connection_id: str) -> bool:
    """Marks the socket ``connection_id`` closed if it is still open, in one statement: of
    its own leave and another writer of it (the sweep, a next join), exactly one wins."""
    result = session.execute(
        update(PresenceEvent)
        .where(PresenceEvent.connection_id == connection_id, PresenceEvent.last_seen.is_not(None))
        .values(last_seen=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) > 0  # type: ignore[attr-defined]  # CursorResult of an UPDATE


def claim_close(session: Session, join_id: uuid.UUID, last_seen: datetime) -> bool:
    """Marks the socket of the join ``join_id`` closed if it is still open with the heartbeat
    ``last_seen`` (a lost socket's, written at that heartbeat): of two writers of its leave
    (the socket itself through :func:`close_socket`, the sweep, a next join), or of a sweep and
    a heartbeat that came meanwhile, exactly one wins."""
    result = session.execute(
        update(PresenceEvent)
        .where(PresenceEvent.id == join_id, PresenceEvent.last_seen == last_seen)
        .values(last_seen=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]  # CursorResult of an UPDATE


def modality_changes(session: Session, visit_id: uuid.UUID) -> Sequence[ModalityChangeRow]:
    return (
        session.execute(
            select(ModalityChangeRow)
            .where(ModalityChangeRow.visit_id == visit_id)
            .order_by(ModalityChangeRow.at, ModalityChangeRow.id)
        )
        .scalars()
        .all()
    )


def precall_tests(session: Session, visit_id: uuid.UUID) -> Sequence[PrecallTest]:
    return (
        session.execute(
            select(PrecallTest)
            .where(PrecallTest.visit_id == visit_id)
            .order_by(PrecallTest.created_at, PrecallTest.id)
        )
        .scalars()
        .all()
    )


def consents_of_patient(session: Session, patient_id: uuid.UUID) -> Sequence[Consent]:
    return (
        session.execute(
            select(Consent).where(Consent.patient_id == patient_id).order_by(Consent.obtained_at)
        )
        .scalars()
        .all()
    )


def consent_by_id(session: Session, consent_id: uuid.UUID) -> tuple[Consent, Visit] | None:
    """A consent with the visit it was taken in."""
    row = session.execute(
        select(Consent, Visit)
        .join(Visit, Visit.id == Consent.visit_id)
        .where(Consent.id == consent_id)
    ).first()
    return None if row is None else (row[0], row[1])


def consents_listed(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    patient_ids: Sequence[uuid.UUID] | None,
    since: datetime | None,
    before: datetime | None,
    limit: int | None,
) -> Sequence[tuple[Consent, Visit]]:
    """The consents of the visits the actor may read (:func:`listed_by`), with their visits,
    by when they were given; narrowed to ``patient_ids`` and to ``since <= obtained_at <
    before``."""
    query = (
        select(Consent, Visit)
        .join(Visit, Visit.id == Consent.visit_id)
        .where(
            listed_by(
                actor,
                now,
                org_id=Visit.org_id,
                patient_id=Visit.patient_id,
                named=Visit.clinician_id,
            )
        )
    )
    if patient_ids is not None:
        query = query.where(Consent.patient_id.in_(patient_ids))
    if since is not None:
        query = query.where(Consent.obtained_at >= since)
    if before is not None:
        query = query.where(Consent.obtained_at < before)
    query = query.order_by(Consent.obtained_at, Consent.id)
    if limit is not None:
        query = query.limit(limit)
    return [(row[0], row[1]) for row in session.execute(query).all()]


def consents_of_visit(session: Session, visit_id: uuid.UUID) -> Sequence[Consent]:
    return (
        session.execute(
            select(Consent).where(Consent.visit_id == visit_id).order_by(Consent.obtained_at)
        )
        .scalars()
        .all()
    )


def note_of(session: Session, visit_id: uuid.UUID, *, lock: bool = False) -> VisitNote | None:
    query = select(VisitNote).where(VisitNote.visit_id == visit_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def amendments_of(session: Session, note_id: uuid.UUID) -> Sequence[NoteAmendment]:
    return (
        session.execute(
            select(NoteAmendment)
            .where(NoteAmendment.note_id == note_id)
            .order_by(NoteAmendment.created_at, NoteAmendment.id)
        )
        .scalars()
        .all()
    )


def messages_of(
    session: Session, visit_id: uuid.UUID, audience: str | None = None
) -> Sequence[VisitMessage]:
    """The visit's messages in the order they were sent, of one audience or all."""
    query = select(VisitMessage).where(VisitMessage.visit_id == visit_id)
    if audience is not None:
        query = query.where(VisitMessage.audience == audience)
    return session.execute(query.order_by(VisitMessage.created_at, VisitMessage.id)).scalars().all()


def latest_message(session: Session, visit_id: uuid.UUID, audience: str) -> VisitMessage | None:
    return session.execute(
        select(VisitMessage)
        .where(VisitMessage.visit_id == visit_id, VisitMessage.audience == audience)
        .order_by(VisitMessage.created_at.desc(), VisitMessage.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def due_reminders(
    session: Session, now: datetime, until: datetime, limit: int = 500
) -> Sequence[Visit]:
    return (
        session.execute(
            select(Visit)
            .where(
                Visit.status == "booked",
                Visit.reminder_sent_at.is_(None),
                Visit.slot_start > now,
                Visit.slot_start <= until,
            )
            .order_by(Visit.slot_start)
            .limit(limit)
        )
        .scalars()
        .all()
    )


def count_in_progress(session: Session) -> int:
    """Visits started and not yet ended, across the organizations (a figure for /metrics)."""
    found = session.execute(
        select(func.count()).select_from(Visit).where(Visit.status == VisitStatus.IN_PROGRESS.value)
    ).scalar_one()
    return int(found)
