"""Queries over review tables. Nothing else in the package builds SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from telehealth.db.base import grouped, table_of
from telehealth.db.engine import read_columns
from telehealth.identity.queries import care_team_exists
from telehealth.review.model import (
    OPEN_REVIEW_STATES,
    CaseQuery,
    CaseStatus,
    ShownMedia,
    ShownReport,
)
from telehealth.review.tables import (
    ReviewBilling,
    ReviewCase,
    ReviewInfoRequest,
    ReviewMedia,
    ReviewReport,
    ReviewUpload,
)

Cursor = tuple[datetime, uuid.UUID]

# Statements of the pages that show a patient's cases beside a visit, built once with bound
# parameters: building a statement and its cache key costs more than running it.
_MEDIA_OF = (
    select(ReviewMedia)
    .where(ReviewMedia.case_id == bindparam("case_id"))
    .order_by(ReviewMedia.created_at, ReviewMedia.id)
)
# The columns a page lists, as a Core statement on the table's columns, run on the session's
# connection without the ORM's execution and loading (about half the cost).
_MEDIA = table_of(ReviewMedia).c
_SHOWN_MEDIA = (
    select(_MEDIA.id, _MEDIA.kind, _MEDIA.filename, _MEDIA.size)
    .where(_MEDIA.case_id == bindparam("case_id"))
    .order_by(_MEDIA.created_at, _MEDIA.id)
)
_CASES_OF_PATIENT = (
    select(ReviewCase)
    .where(ReviewCase.patient_id == bindparam("patient_id"))
    .order_by(ReviewCase.created_at.desc(), ReviewCase.id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
_CASES = table_of(ReviewCase).c
_REPORTS_TABLE = table_of(ReviewReport)
_REPORTS = _REPORTS_TABLE.c
_REPORTED_CASES = (
    select(_CASES.id)
    .where(
        _CASES.patient_id == bindparam("patient_id"),
        _CASES.status == CaseStatus.REPORTED.value,
    )
    .order_by(_CASES.created_at.desc(), _CASES.id)
    .limit(bindparam("limit"))
)
_SIGNED_REPORTS = (
    select(
        _CASES.id,
        _CASES.specialty,
        _CASES.patient_id,
        _REPORTS.signed_at,
        _REPORTS.assessment,
        _REPORTS.recommendation,
    )
    .join(_REPORTS_TABLE, _REPORTS.case_id == _CASES.id)
    .where(_CASES.id.in_(_REPORTED_CASES), _REPORTS.signed_at.is_not(None))
    .order_by(_CASES.created_at.desc(), _CASES.id, _REPORTS.seq)
)


def case_by_id(session: Session, case_id: uuid.UUID) -> ReviewCase | None:
    return session.get(ReviewCase, case_id)


def upload_by_id(session: Session, upload_id: str) -> ReviewUpload | None:
    return session.get(ReviewUpload, upload_id)


def media_by_id(session: Session, media_id: uuid.UUID) -> ReviewMedia | None:
    return session.get(ReviewMedia, media_id)


def media_of(session: Session, case_id: uuid.UUID) -> Sequence[ReviewMedia]:
    return session.execute(_MEDIA_OF, {"case_id": case_id}).scalars().all()


def shown_media(session: Session, case_id: uuid.UUID) -> list[ShownMedia]:
    """The media of :func:`media_of`, only the columns pages list (no ORM rows)."""
    rows = read_columns(session, _SHOWN_MEDIA, {"case_id": case_id})
    return [ShownMedia(*row) for row in rows]


def pending_uploads(session: Session, case_id: uuid.UUID) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(ReviewUpload)
            .where(ReviewUpload.case_id == case_id, ReviewUpload.status == "open")
        ).scalar_one()
    )


def media_count(session: Session, case_id: uuid.UUID) -> int:
    """Files of the case, counting uploads still in progress."""
    media = session.execute(
        select(func.count()).select_from(ReviewMedia).where(ReviewMedia.case_id == case_id)
    ).scalar_one()
    return int(media) + pending_uploads(session, case_id)


def info_requests_of(session: Session, case_id: uuid.UUID) -> Sequence[ReviewInfoRequest]:
    return (
        session.execute(
            select(ReviewInfoRequest)
            .where(ReviewInfoRequest.case_id == case_id)
            .order_by(ReviewInfoRequest.asked_at, ReviewInfoRequest.id)
        )
        .scalars()
        .all()
    )


def open_info_request(session: Session, case_id: uuid.UUID) -> ReviewInfoRequest | None:
    return session.execute(
        select(ReviewInfoRequest)
        .where(ReviewInfoRequest.case_id == case_id, ReviewInfoRequest.answered_at.is_(None))
        .limit(1)
    ).scalar_one_or_none()


def reports_of(session: Session, case_id: uuid.UUID) -> Sequence[ReviewReport]:
    return (
        session.execute(
            select(ReviewReport).where(ReviewReport.case_id == case_id).order_by(ReviewReport.seq)
        )
        .scalars()
        .all()
    )


def billing_of(session: Session, case_id: uuid.UUID) -> Sequence[ReviewBilling]:
    return (
        session.execute(
            select(ReviewBilling)
            .where(ReviewBilling.case_id == case_id)
            .order_by(ReviewBilling.role)
        )
        .scalars()
        .all()
    )


def reports_of_cases(
    session: Session, case_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ReviewReport]]:
    """The reports of some cases, by case, each case's in order (as :func:`reports_of`)."""
    if not case_ids:
        return {}
    found = session.scalars(
        select(ReviewReport)
        .where(ReviewReport.case_id.in_(case_ids))
        .order_by(ReviewReport.case_id, ReviewReport.seq)
    )
    return grouped((report.case_id, report) for report in found)


def billing_of_cases(
    session: Session, case_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ReviewBilling]]:
    """The billing records of some cases, by case, each case's by role (as
    :func:`billing_of`)."""
    if not case_ids:
        return {}
    found = session.scalars(
        select(ReviewBilling)
        .where(ReviewBilling.case_id.in_(case_ids))
        .order_by(ReviewBilling.case_id, ReviewBilling.role)
    )
    return grouped((billing.case_id, billing) for billing in found)


def has_care_team(session: Session, patient_id: uuid.UUID, now: datetime) -> bool:
    return bool(session.execute(select(care_team_exists(patient_id, now))).scalar())


def _after(cursor: Cursor | None) -> list[ColumnElement[bool]]:
    if cursor is None:
        return []
    return [tuple_(ReviewCase.due_at, ReviewCase.id) > tuple_(cursor[0], cursor[1])]


def specialty_queue(
    session: Session,
    org_id: uuid.UUID,
    specialty: str,
    states: frozenset[str],
    cursor: Cursor | None,
    limit: int,
) -> Sequence[ReviewCase]:
    """Queued cases by due time, keyset-paginated along ix_review_cases_queue.

    Lapsed claims rejoin the queue through the release job; until then they can still be
    claimed directly.
    """
    if not states:
        return []
    statement = _FIRST_QUEUED if cursor is None else _queued(_after(cursor))
    params = {"org_id": org_id, "specialty": specialty, "states": sorted(states), "limit": limit}
    return session.execute(statement, params).scalars().all()


def _queued(after: list[ColumnElement[bool]]) -> Select[ReviewCase]:
    return (
        select(ReviewCase)
        .where(
            ReviewCase.org_id == bindparam("org_id"),
            ReviewCase.specialty == bindparam("specialty"),
            ReviewCase.status == CaseStatus.QUEUED.value,
            ReviewCase.location_state.in_(bindparam("states", expanding=True)),
            *after,
        )
        .order_by(ReviewCase.due_at, ReviewCase.id)
        .limit(bindparam("limit"))
    )


def cases_reviewed_by(
    session: Session, reviewer_id: uuid.UUID, cursor: Cursor | None, limit: int
) -> Sequence[ReviewCase]:
    statement = _FIRST_REVIEWED if cursor is None else _reviewed_by(_after(cursor))
    return session.execute(statement, {"reviewer_id": reviewer_id, "limit": limit}).scalars().all()


def _reviewed_by(after: list[ColumnElement[bool]]) -> Select[ReviewCase]:
    states = (CaseStatus.CLAIMED.value, CaseStatus.AWAITING_INFO.value)
    return (
        select(ReviewCase)
        .where(
            ReviewCase.reviewer_id == bindparam("reviewer_id"),
            ReviewCase.status.in_(states),
            ReviewCase.due_at.is_not(None),
            *after,
        )
        .order_by(ReviewCase.due_at, ReviewCase.id)
        .limit(bindparam("limit"))
    )


# The first page of each queue is what dashboards show on every visit; built once, as building
# a statement and its cache key costs more than running it.
_FIRST_QUEUED = _queued([])
_FIRST_REVIEWED = _reviewed_by([])
_ORIGINATED_BY = (
    select(ReviewCase)
    .where(ReviewCase.originator_id == bindparam("user_id"))
    .order_by(ReviewCase.created_at.desc(), ReviewCase.id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)


def cases_originated_by(
    session: Session, user_id: uuid.UUID, limit: int, offset: int
) -> Sequence[ReviewCase]:
    params = {"user_id": user_id, "limit": limit, "offset": offset}
    return session.execute(_ORIGINATED_BY, params).scalars().all()


def cases_of_patient(
    session: Session, patient_id: uuid.UUID, limit: int, offset: int
) -> Sequence[ReviewCase]:
    return (
        session.execute(
            _CASES_OF_PATIENT, {"patient_id": patient_id, "limit": limit, "offset": offset}
        )
        .scalars()
        .all()
    )


def latest_signed_reports(session: Session, patient_id: uuid.UUID, limit: int) -> list[ShownReport]:
    """The latest signed report (or amendment) of each of a patient's ``limit`` newest reported
    cases, newest case first, in one statement of the columns pages list."""
    rows = read_columns(session, _SIGNED_REPORTS, {"patient_id": patient_id, "limit": limit})
    latest: dict[uuid.UUID, ShownReport] = {}
    for row in rows:
        latest[row[0]] = ShownReport(*row)  # rows run by seq: the last one stays
    return list(latest.values())


def org_cases_in(
    session: Session,
    org_id: uuid.UUID,
    statuses: Sequence[str],
    now: datetime,
    overdue_only: bool,
    cursor: Cursor | None,
    limit: int,
) -> Sequence[ReviewCase]:
    query = select(ReviewCase).where(
        ReviewCase.org_id == org_id, ReviewCase.status.in_(list(statuses))
    )
    if overdue_only:
        query = query.where(ReviewCase.due_at < now)
    if cursor is not None:
        query = query.where(*_after(cursor))
    return (
        session.execute(query.order_by(ReviewCase.due_at, ReviewCase.id).limit(limit))
        .scalars()
        .all()
    )


def overdue_unescalated(session: Session, now: datetime, limit: int) -> Sequence[ReviewCase]:
    states = [s.value for s in OPEN_REVIEW_STATES]
    return (
        session.execute(
            select(ReviewCase)
            .where(
                ReviewCase.status.in_(states),
                ReviewCase.due_at < now,
                ReviewCase.escalated_at.is_(None),
            )
            .order_by(ReviewCase.due_at)
            .limit(limit)
        )
        .scalars()
        .all()
    )


def lapsed_claims(session: Session, now: datetime, limit: int) -> Sequence[ReviewCase]:
    return (
        session.execute(
            select(ReviewCase)
            .where(
                ReviewCase.status == CaseStatus.CLAIMED.value, ReviewCase.claim_expires_at <= now
            )
            .order_by(ReviewCase.claim_expires_at)
            .limit(limit)
        )
        .scalars()
        .all()
    )


def expired_uploads(session: Session, now: datetime, limit: int) -> Sequence[ReviewUpload]:
    return (
        session.execute(
            select(ReviewUpload)
            .where(ReviewUpload.status == "open", ReviewUpload.expires_at <= now)
            .order_by(ReviewUpload.expires_at)
            .limit(limit)
        )
        .scalars()
        .all()
    )


# Cases submitted and not yet answered by a signed report.
OPEN_CASE_STATES = (
    CaseStatus.NEEDS_LIVE_VISIT.value,
    CaseStatus.QUEUED.value,
    CaseStatus.CLAIMED.value,
    CaseStatus.AWAITING_INFO.value,
)


def open_cases_of_org(session: Session, org_id: uuid.UUID) -> Sequence[ReviewCase]:
    """The organization's submitted cases still awaiting a report, oldest first."""
    return session.scalars(
        select(ReviewCase)
        .where(ReviewCase.org_id == org_id, ReviewCase.status.in_(OPEN_CASE_STATES))
        .order_by(ReviewCase.created_at, ReviewCase.id)
    ).all()


# --- searches (the FHIR API's ServiceRequest, DiagnosticReport and DocumentReference) --------


def _in_range(
    column: InstrumentedAttribute[datetime] | InstrumentedAttribute[datetime | None],
    bounds: tuple[datetime | None, datetime | None],
) -> list[ColumnElement[bool]]:
    start, end = bounds
    return [
        *([column >= start] if start is not None else []),
        *([column < end] if end is not None else []),
    ]


def _case_conditions(query: CaseQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.patient_ids is not None:
        where.append(ReviewCase.patient_id.in_(list(query.patient_ids)))
    else:
        where.append(
            or_(ReviewCase.originator_id == query.named, ReviewCase.reviewer_id == query.named)
        )
        where.append(ReviewCase.org_id == query.org_id)
    if query.ids is not None:
        where.append(ReviewCase.id.in_(list(query.ids)))
    if query.statuses is not None:
        where.append(ReviewCase.status.in_(list(query.statuses)))
    if query.originators is not None:
        where.append(ReviewCase.originator_id.in_(list(query.originators)))
    if query.reviewers is not None:
        where.append(ReviewCase.reviewer_id.in_(list(query.reviewers)))
    where += _in_range(ReviewCase.created_at, query.created)
    where += _in_range(ReviewCase.signed_at, query.signed)
    if query.amended is not None:
        amendment = (
            select(ReviewReport.id)
            .where(ReviewReport.case_id == ReviewCase.id, ReviewReport.seq > 1)
            .exists()
        )
        where.append(amendment if query.amended else ~amendment)
    if query.report_ids is not None:
        reported = select(ReviewReport.case_id).where(ReviewReport.id.in_(list(query.report_ids)))
        where.append(ReviewCase.id.in_(reported))
    return where


def find_cases(
    session: Session, query: CaseQuery, limit: int, offset: int, *, newest_signed: bool = False
) -> Sequence[ReviewCase]:
    """The cases of a search, newest first (by creation, or by first signature)."""
    order = ReviewCase.signed_at if newest_signed else ReviewCase.created_at
    return session.scalars(
        select(ReviewCase)
        .where(*_case_conditions(query))
        .order_by(order.desc(), ReviewCase.id)
        .limit(limit)
        .offset(offset)
    ).all()


def find_media(
    session: Session,
    query: CaseQuery,
    media_ids: Sequence[uuid.UUID] | None,
    kinds: Sequence[str] | None,
    added: tuple[datetime | None, datetime | None],
    limit: int,
    offset: int,
) -> Sequence[tuple[ReviewMedia, ReviewCase]]:
    """The files of a search's cases, newest first, each with its case."""
    where = _case_conditions(query)
    if media_ids is not None:
        where.append(ReviewMedia.id.in_(list(media_ids)))
    if kinds is not None:
        where.append(ReviewMedia.kind.in_(list(kinds)))
    where += _in_range(ReviewMedia.created_at, added)
    rows = session.execute(
        select(ReviewMedia, ReviewCase)
        .join(ReviewCase, ReviewCase.id == ReviewMedia.case_id)
        .where(*where)
        .order_by(ReviewMedia.created_at.desc(), ReviewMedia.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [(media, case) for media, case in rows]


def report_by_id(session: Session, report_id: uuid.UUID) -> ReviewReport | None:
    return session.get(ReviewReport, report_id)


def billing_by_id(session: Session, billing_id: uuid.UUID) -> ReviewBilling | None:
    return session.get(ReviewBilling, billing_id)
