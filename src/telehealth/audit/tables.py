"""Audit storage. Rows are append-only: database triggers refuse UPDATE, DELETE and TRUNCATE."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, SmallInteger, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from telehealth.db.base import Base, UTCDateTime


class AuditRow(Base):
    __tablename__ = "audit_events"
    # Searches filter on one of these columns and list the newest first (time, then chain and
    # sequence, all descending): with the whole order in the index they read the first rows
    # in order instead of sorting every matching row.
    __table_args__ = (
        Index("ix_audit_events_org_id_order", "org_id", "at", "chain", "seq"),
        Index("ix_audit_events_patient_id_order", "patient_id", "at", "chain", "seq"),
        Index("ix_audit_events_actor_id_order", "actor_id", "at", "chain", "seq"),
    )

    chain: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    action: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    object_type: Mapped[str] = mapped_column(String(48))
    object_id: Mapped[str | None] = mapped_column(String(64))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    actor_role: Mapped[str | None] = mapped_column(String(16))
    org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    patient_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    source_ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # The audit key whose HMAC ``hash`` is; NULL for rows hashed with plain SHA-256 before
    # audit keys existed.
    key_id: Mapped[str | None] = mapped_column(String(32))


class AuditHead(Base):
    """One row per chain: its last sequence number and hash, locked while appending to it."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
