"""Tables of the monitoring capability."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from telehealth.db.base import Base, UTCDateTime, new_id


class Enrollment(Base):
    """A patient in a monitoring program for one episode of care, with the consent captured."""

    __tablename__ = "monitoring_enrollments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    clinician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    program: Mapped[str] = mapped_column(String(32))
    payer: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # active | ended
    episode_start: Mapped[date] = mapped_column(Date)
    episode_end: Mapped[date | None] = mapped_column(Date)
    consent_given_by: Mapped[str] = mapped_column(String(16))  # patient | representative
    consent_method: Mapped[str] = mapped_column(String(16))  # verbal | written | electronic
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    consent_recorded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    threshold_overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ThresholdSet(Base):
    """An organization's thresholds for one program, replacing the built-in defaults."""

    __tablename__ = "monitoring_threshold_sets"
    __table_args__ = (UniqueConstraint("org_id", "program", name="uq_monitoring_threshold_prog"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    program: Mapped[str] = mapped_column(String(32))
    limits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Device(Base):
    __tablename__ = "monitoring_devices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("monitoring_enrollments.id"), index=True
    )
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    device_type: Mapped[str] = mapped_column(String(40))
    manufacturer: Mapped[str] = mapped_column(String(120))
    model: Mapped[str] = mapped_column(String(120))
    serial: Mapped[str] = mapped_column(String(120))
    meets_fda_definition: Mapped[bool] = mapped_column(Boolean)
    # SHA-256 of the device's bearer token; the token itself is shown once and never stored.
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Reading(Base):
    __tablename__ = "monitoring_readings"
    __table_args__ = (
        # A re-sent reading is the same reading: what makes ingestion idempotent.
        UniqueConstraint("device_id", "effective_at", "code", name="uq_monitoring_reading"),
        Index("ix_monitoring_readings_enrollment_at", "enrollment_id", "effective_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("monitoring_devices.id"))
    enrollment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("monitoring_enrollments.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    code: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime())
    effective_date: Mapped[date] = mapped_column(Date)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    clock_skew: Mapped[bool] = mapped_column(Boolean, default=False)


class Alert(Base):
    __tablename__ = "monitoring_alerts"
    __table_args__ = (Index("ix_monitoring_alerts_enrollment_status", "enrollment_id", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    enrollment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("monitoring_enrollments.id"))
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("monitoring_devices.id"))
    kind: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str | None] = mapped_column(String(16))
    limit_value: Mapped[float | None] = mapped_column(Float)
    # What the device measured (for a weight gain, the weight); none for a silent device.
    observed_value: Mapped[float | None] = mapped_column(Float)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class TimeEntry(Base):
    """Treatment-management time: a running timer (no end yet) or a finished/manual entry."""

    __tablename__ = "monitoring_time_entries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("monitoring_enrollments.id"), index=True
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    clinician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(String(8))  # timer | manual
    activity: Mapped[str] = mapped_column(String(32))
    performed_on: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    minutes: Mapped[int | None] = mapped_column(Integer)
    # Real-time two-way audio or video with the patient or caregiver.
    interactive: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class VisitRequest(Base):
    """A request, raised from an alert, that scheduling books a live visit."""

    __tablename__ = "monitoring_visit_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("monitoring_alerts.id"), index=True)
    enrollment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("monitoring_enrollments.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    modality: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16))  # requested | scheduled | cancelled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Message(Base):
    __tablename__ = "monitoring_messages"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("monitoring_enrollments.id"), index=True
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    alert_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("monitoring_alerts.id"))
    sender_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
