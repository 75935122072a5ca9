"""Tables of the review capability: cases, media, uploads, questions, reports and billing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from telehealth.db.base import Base, UTCDateTime, new_id


class ReviewCase(Base):
    __tablename__ = "review_cases"
    __table_args__ = (
        # The reviewer queue: one organization's cases of a specialty in a state, by due time.
        Index("ix_review_cases_queue", "org_id", "specialty", "status", "due_at", "id"),
        # Escalation of overdue cases scans open states by due time.
        Index("ix_review_cases_status_due", "status", "due_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    originator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    specialty: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    urgency: Mapped[str] = mapped_column(String(16))
    acuity: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(32))
    location_state: Mapped[str] = mapped_column(String(2))
    payer: Mapped[str] = mapped_column(String(16))
    setting: Mapped[str] = mapped_column(String(16))
    controlled_substance_schedule: Mapped[str | None] = mapped_column(String(4))
    # Minutes the referring clinician spent preparing an e-consult (requester billing).
    requester_minutes: Mapped[int | None] = mapped_column(Integer)
    questionnaire_id: Mapped[str] = mapped_column(String(64))
    questionnaire_version: Mapped[int] = mapped_column(Integer)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    established: Mapped[bool] = mapped_column(Boolean, default=False)
    decision_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("decision_records.id"))
    # Why the rules sent the case to a live visit: [{rule, message, citation}].
    live_visit_reasons: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API


class ReviewMedia(Base):
    __tablename__ = "review_media"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_cases.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    kind: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    # SHA-256 of the stored content, and of the bytes as received (they differ for images,
    # which are re-encoded).
    sha256: Mapped[str] = mapped_column(String(64))
    upload_sha256: Mapped[str] = mapped_column(String(64))
    blob_id: Mapped[str] = mapped_column(String(32), unique=True)
    uploaded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReviewUpload(Base):
    """A tus upload in progress. Its bytes live (encrypted) in the blob store's staging area."""

    __tablename__ = "review_uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_cases.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    length: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(200))
    declared_kind: Mapped[str | None] = mapped_column(String(16))
    # The type the content must be found to be (None: none declared, or opened before it was kept).
    declared_type: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # open | complete | failed
    blob_id: Mapped[str] = mapped_column(String(32))
    media_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("review_media.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReviewInfoRequest(Base):
    __tablename__ = "review_info_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_cases.id"), index=True)
    asked_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    question: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReviewReport(Base):
    """The report (seq 1) and its amendments (seq 2, 3, ...). A signed row is never changed."""

    __tablename__ = "review_reports"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_review_reports_case_seq"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # report | amendment
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    findings: Mapped[str] = mapped_column(Text)
    assessment: Mapped[str] = mapped_column(Text)
    diagnosis_codes: Mapped[list[str]] = mapped_column(JSON)
    recommendation: Mapped[str] = mapped_column(String(32))
    minutes: Mapped[int | None] = mapped_column(Integer)
    verbal_discussion: Mapped[bool] = mapped_column(Boolean, default=False)
    amendment_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReviewBilling(Base):
    """Encounter record and billing lines produced by the coding engine for a signed review."""

    __tablename__ = "review_billing"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_cases.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # reviewer | consultant | requester
    billing_clinician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    encounter: Mapped[dict[str, Any]] = mapped_column(JSON)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    codeset_revision: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
