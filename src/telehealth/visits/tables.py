"""Tables of the visits capability."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    Time,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from telehealth.db.base import Base, UTCDateTime, new_id
from telehealth.visits.model import zone


class AvailabilityWindow(Base):
    """Weekly recurring hours of a clinician, in the clinician's IANA time zone."""

    __tablename__ = "visit_availability"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    clinician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    time_zone: Mapped[str] = mapped_column(String(64))
    weekday: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[time] = mapped_column(Time())
    end_time: Mapped[time] = mapped_column(Time())
    slot_minutes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Visit(Base):
    __tablename__ = "visits"
    # The double-booking guard lives in the database: an open visit holds its slot through
    # ``held_slot``; a cancelled one sets it to NULL, and NULLs never collide.
    __table_args__ = (
        UniqueConstraint("clinician_id", "held_slot", name="uq_visits_clinician_held_slot"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    clinician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    booked_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16))
    slot_start: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    slot_end: Mapped[datetime] = mapped_column(UTCDateTime())
    # The IANA time zone of the availability the slot was offered in: the clinician's day,
    # which decides whether the visit is on today's schedule.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    held_slot: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What the booking was decided on (no identifiers: state codes and clinical categories).
    intake: Mapped[dict[str, Any]] = mapped_column(JSON)
    located_state: Mapped[str] = mapped_column(String(2))
    decision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("decision_records.id"))
    current_decision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("decision_records.id"))
    planned_modality: Mapped[str] = mapped_column(String(32))
    fallback_reason: Mapped[str | None] = mapped_column(String(300))
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    coding: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The E/M level the clinician chose and its basis ("mdm" or "time"); NULL until chosen.
    em_code: Mapped[str | None] = mapped_column(String(5))
    em_basis: Mapped[str | None] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def local_start(self) -> datetime:
        """The slot's start on the clock of its time zone (the clinician's), as pages show it."""
        return self.slot_start.astimezone(zone(self.time_zone))


class Participant(Base):
    __tablename__ = "visit_participants"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"), index=True)
    role: Mapped[str] = mapped_column(String(24))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    display_name: Mapped[str] = mapped_column(String(120))
    # Only the digest of the join token is kept; the token itself is shown once.
    token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16))
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_state: Mapped[str | None] = mapped_column(String(2))
    precall_ok: Mapped[bool | None] = mapped_column(Boolean)
    video_active: Mapped[bool] = mapped_column(Boolean, default=False)
    video_frames_sent: Mapped[int | None] = mapped_column(Integer)
    admitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PresenceEvent(Base):
    """Joins, leaves, admissions and removals: the session window of each participant."""

    __tablename__ = "visit_presence"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"), index=True)
    participant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit_participants.id"))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The signaling socket a join or leave belongs to (None on rows older than sockets' ids).
    connection_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # On a join whose socket is open: the last heartbeat of the instance holding it. Cleared
    # when the socket's leave is written (session_record.py).
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class ModalityChangeRow(Base):
    """The modality in use from ``at`` on, as measured from the participants' media stats."""

    __tablename__ = "visit_modality_changes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"), index=True)
    modality: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class PrecallTest(Base):
    __tablename__ = "visit_precall_tests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"), index=True)
    participant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit_participants.id"))
    camera_ok: Mapped[bool] = mapped_column(Boolean)
    microphone_ok: Mapped[bool] = mapped_column(Boolean)
    down_mbps: Mapped[float] = mapped_column(Float)
    up_mbps: Mapped[float] = mapped_column(Float)
    rtt_ms: Mapped[float] = mapped_column(Float)
    loss_pct: Mapped[float] = mapped_column(Float)
    video_feasible: Mapped[bool] = mapped_column(Boolean)
    decision_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("decision_records.id"))
    reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Consent(Base):
    """Informed consent to telehealth: who gave it, who took it, when, and how."""

    __tablename__ = "visit_consents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"), index=True)
    modality: Mapped[str | None] = mapped_column(String(32))
    located_state: Mapped[str] = mapped_column(String(2))
    method: Mapped[str] = mapped_column(String(16))
    given_by: Mapped[str] = mapped_column(String(24))
    recorded_by_participant: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit_participants.id"))
    requirement: Mapped[str] = mapped_column(String(500))
    citation: Mapped[str] = mapped_column(String(500))
    obtained_at: Mapped[datetime] = mapped_column(UTCDateTime())


class VisitNote(Base):
    __tablename__ = "visit_notes"
    __table_args__ = (UniqueConstraint("visit_id", name="uq_visit_notes_visit_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"))
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    signed_late: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class VisitMessage(Base):
    """A text message of a visit: the in-call chat, or the clinician's word to the waiting room.

    ``audience`` is ``call`` (everyone admitted) or ``waiting`` (everyone still waiting, e.g.
    "running 5 minutes late"). Kept with the visit and shown in its record.
    """

    __tablename__ = "visit_messages"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"), index=True)
    sender_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit_participants.id"))
    audience: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NoteAmendment(Base):
    """Appended after signing; the signed note itself never changes."""

    __tablename__ = "visit_note_amendments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    note_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit_notes.id"), index=True)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
