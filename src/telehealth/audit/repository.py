"""Queries over the audit tables."""

from __future__ import annotations

import uuid
from collections.abc import Generator, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from telehealth.audit.model import (
    GENESIS_HASH,
    Action,
    AuditEvent,
    ChainedRecord,
    Outcome,
    chain,
)
from telehealth.audit.tables import AuditHead, AuditRow

_ROWS = cast(Table, AuditRow.__table__)
_HEADS = cast(Table, AuditHead.__table__)


def append(session: Session, chain_id: int, events: Sequence[AuditEvent]) -> list[ChainedRecord]:
    """Append events to one chain inside the caller's transaction.

    The chain's head row is locked (FOR UPDATE on PostgreSQL; SQLite already holds the write
    lock from BEGIN IMMEDIATE), so transactions on the same chain extend it one after another.
    Rows go in as one multi-row statement: this runs once per request or per group commit.
    """
    if not events:
        return []
    head = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == chain_id).with_for_update()
    ).one_or_none()
    if head is None:
        session.execute(insert(_HEADS).values(id=chain_id, seq=0, hash=GENESIS_HASH))
        seq, prev_hash = 0, GENESIS_HASH
    else:
        seq, prev_hash = head
    records = chain(chain_id, seq, prev_hash, events)
    session.execute(insert(_ROWS), [_values(record) for record in records])
    session.execute(
        update(_HEADS)
        .where(_HEADS.c.id == chain_id)
        .values(seq=records[-1].seq, hash=records[-1].hash)
    )
    return records


def _values(record: ChainedRecord) -> dict[str, object]:
    event = record.event
    return {
        "chain": record.chain,
        "seq": record.seq,
        "at": event.at,
        "action": event.action.value,
        "outcome": event.outcome.value,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "org_id": event.org_id,
        "patient_id": event.patient_id,
        "source_ip": event.source_ip,
        "request_id": event.request_id,
        "detail": dict(event.detail),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


def to_record(row: AuditRow) -> ChainedRecord:
    event = AuditEvent(
        at=row.at,
        action=Action(row.action),
        outcome=Outcome(row.outcome),
        object_type=row.object_type,
        object_id=row.object_id,
        actor_id=row.actor_id,
        actor_role=row.actor_role,
        org_id=row.org_id,
        patient_id=row.patient_id,
        source_ip=row.source_ip,
        request_id=row.request_id,
        detail=dict(row.detail or {}),
    )
    return ChainedRecord(row.chain, row.seq, event, row.prev_hash, row.hash)


def iter_chain(session: Session, chain_id: int, batch: int = 1000) -> Generator[ChainedRecord]:
    result = session.execute(
        select(AuditRow)
        .where(AuditRow.chain == chain_id)
        .order_by(AuditRow.seq)
        .execution_options(yield_per=batch)
    )
    try:
        for row in result.scalars():
            yield to_record(row)
    finally:
        # A verifier that stops at the first break must not leave a server-side cursor open.
        result.close()


def heads(session: Session) -> dict[int, tuple[int, str]]:
    return {h.id: (h.seq, h.hash) for h in session.execute(select(AuditHead)).scalars()}


def chains_in_rows(session: Session) -> set[int]:
    return set(session.execute(select(AuditRow.chain).distinct()).scalars())


def search(
    session: Session,
    *,
    org_id: uuid.UUID,
    patient_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[AuditRow]:
    query = select(AuditRow).where(AuditRow.org_id == org_id)
    if patient_id is not None:
        query = query.where(AuditRow.patient_id == patient_id)
    if actor_id is not None:
        query = query.where(AuditRow.actor_id == actor_id)
    if action is not None:
        query = query.where(AuditRow.action == action)
    if since is not None:
        query = query.where(AuditRow.at >= since)
    if until is not None:
        query = query.where(AuditRow.at < until)
    ordered = query.order_by(AuditRow.at.desc(), AuditRow.chain, AuditRow.seq.desc())
    return list(session.execute(ordered.limit(limit)).scalars())
