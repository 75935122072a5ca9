"""Queries over the visits tables. Nothing else in the package builds SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select
from sqlalchemy.orm import Session

from telehealth.access.queries import reached_by
from telehealth.db.base import grouped
from telehealth.visits.model import VisitStatus
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
_PATIENT_VISITS = _visit_pages(Visit.patient_id == bindparam("patient_id"))
_CLINICIAN_VISITS = _visit_pages(
    Visit.org_id == bindparam("org_id"),
    or_(Visit.clinician_id == _CLINICIAN, reached_by(Visit.patient_id, _CLINICIAN)),
)
_ORG_VISITS = _visit_pages(Visit.org_id == bindparam("org_id"))


def visits_of_patient(
    session: Session, patient_id: uuid.UUID | None, status: str | None, limit: int, offset: int
) -> Sequence[Visit]:
    return _visit_page(session, _PATIENT_VISITS, status, limit, offset, patient_id=patient_id)


def visits_of_clinician(
    session: Session,
    org_id: uuid.UUID,
    clinician_id: uuid.UUID,
    status: str | None,
    limit: int,
    offset: int,
    *,
    now: datetime,
) -> Sequence[Visit]:
    """The visits a clinician conducts, and those of the patients in their care at ``now``."""
    return _visit_page(
        session,
        _CLINICIAN_VISITS,
        status,
        limit,
        offset,
        org_id=org_id,
        clinician_id=clinician_id,
        care_now=now,
    )


def visits_of_org(
    session: Session, org_id: uuid.UUID, status: str | None, limit: int, offset: int
) -> Sequence[Visit]:
    return _visit_page(session, _ORG_VISITS, status, limit, offset, org_id=org_id)


def upcoming_of_org(session: Session, org_id: uuid.UUID | None, now: datetime) -> Sequence[Visit]:
    """The organization's (every organization's: None) booked visits whose slot starts after
    ``now``, by slot."""
    query = select(Visit).where(Visit.status == VisitStatus.BOOKED.value, Visit.slot_start > now)
    if org_id is not None:
        query = query.where(Visit.org_id == org_id)
    return session.scalars(query.order_by(Visit.slot_start, Visit.id)).all()


def _visit_page(
    session: Session,
    statements: dict[bool, Select[Visit]],
    status: str | None,
    limit: int,
    offset: int,
    **params: Any,
) -> Sequence[Visit]:
    params.update(limit=limit, offset=offset)
    if status is not None:
        params["status"] = status
    return session.scalars(statements[status is not None], params).all()


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


def coded_visits(
    session: Session,
    *,
    patient_ids: Sequence[uuid.UUID] | None,
    clinician_id: uuid.UUID | None,
    org_id: uuid.UUID | None,
    ids: Sequence[uuid.UUID] | None,
    ended: tuple[datetime | None, datetime | None],
    limit: int,
    offset: int,
) -> Sequence[Visit]:
    """Ended visits with their coding (billing lines), the latest ended first: of these
    patients, or (with none) those the clinician conducted in the organization."""
    query = select(Visit).where(Visit.coding.is_not(None), Visit.ended_at.is_not(None))
    if patient_ids is not None:
        query = query.where(Visit.patient_id.in_(list(patient_ids)))
    else:
        query = query.where(Visit.clinician_id == clinician_id, Visit.org_id == org_id)
    if ids is not None:
        query = query.where(Visit.id.in_(list(ids)))
    start, end = ended
    if start is not None:
        query = query.where(Visit.ended_at >= start)
    if end is not None:
        query = query.where(Visit.ended_at < end)
    order = query.order_by(Visit.ended_at.desc(), Visit.id)
    return session.scalars(order.limit(limit).offset(offset)).all()
