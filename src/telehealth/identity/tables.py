"""Identity tables: organizations, users, patients, clinician credentials, sessions, tokens."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from telehealth.db.base import Base, UTCDateTime, new_id
from telehealth.identity.model import new_record_number


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # TOTP secret, encrypted with a key derived from the application secret.
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    mfa_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Last accepted TOTP time step: a code is accepted once, never replayed.
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on password change or role change: sessions and tokens issued before it stop working.
    credentials_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The IANA zone the person reads times in; None: their browser's zone.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # The service account of a registered system client (SMART Backend Services): no password,
    # no invite, never signed in to pages; its tokens come from the client's signed assertions.
    system_client: Mapped[bool] = mapped_column(Boolean, default=False)

    clinician: Mapped[ClinicianProfile | None] = relationship(
        back_populates="user", uselist=False, lazy="raise"
    )


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (
        Index("ix_patients_org_record_number", "org_id", "record_number", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), unique=True)
    given_name: Mapped[str] = mapped_column(String(120))
    family_name: Mapped[str] = mapped_column(String(120))
    birth_date: Mapped[date] = mapped_column(Date)
    home_state: Mapped[str] = mapped_column(String(2))
    phone: Mapped[str | None] = mapped_column(String(32))
    # The number staff quote to tell patients apart (``AdministrativeSex``: None if not recorded).
    record_number: Mapped[str] = mapped_column(String(16), default=new_record_number)
    sex: Mapped[str | None] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ClinicianProfile(Base):
    __tablename__ = "clinician_profiles"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    npi: Mapped[str | None] = mapped_column(String(10))
    specialties: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Languages the clinician holds visits in, as BCP 47 tags ("en", "es").
    languages: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["en"])
    video_capable: Mapped[bool] = mapped_column(Boolean, default=True)
    # The licensed discipline (a ``vocabulary.Discipline`` code); None: not recorded, and the
    # decision engine infers it from the specialty where the specialty names one.
    discipline: Mapped[str | None] = mapped_column(String(16))

    user: Mapped[User] = relationship(back_populates="clinician", lazy="raise")


class License(Base):
    __tablename__ = "clinician_licenses"
    __table_args__ = (
        UniqueConstraint("clinician_id", "state", "kind", name="uq_license_state_kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    clinician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clinician_profiles.user_id"), index=True
    )
    state: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(32))
    number: Mapped[str] = mapped_column(String(64))
    expires_on: Mapped[date | None] = mapped_column(Date)


class CompactMembership(Base):
    __tablename__ = "clinician_compacts"
    __table_args__ = (UniqueConstraint("clinician_id", "compact", name="uq_compact_member"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    clinician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clinician_profiles.user_id"), index=True
    )
    # e.g. IMLC (physicians), PSYPACT (psychologists), NLC (nurses), ASWB (social workers)
    compact: Mapped[str] = mapped_column(String(32))
    principal_state: Mapped[str] = mapped_column(String(2))


class DeaRegistration(Base):
    __tablename__ = "dea_registrations"
    __table_args__ = (UniqueConstraint("clinician_id", "state", name="uq_dea_state"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    clinician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clinician_profiles.user_id"), index=True
    )
    state: Mapped[str] = mapped_column(String(2))
    number: Mapped[str] = mapped_column(String(16))
    schedules: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_on: Mapped[date | None] = mapped_column(Date)


class CareAssignment(Base):
    """A clinician caring for a patient: what lets a clinician reach that patient's records."""

    __tablename__ = "care_assignments"
    __table_args__ = (UniqueConstraint("clinician_id", "patient_id", name="uq_care_pair"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    clinician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Where the membership came from (a CareSource) and who extended the care team; rows from
    # before this was recorded say "legacy" and name no one.
    source: Mapped[str] = mapped_column(String(32))
    granted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # When the membership ends (exclusive); None while it lasts.
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginSession(Base):
    __tablename__ = "login_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    mfa_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    credentials_epoch: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    mfa_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    credentials_epoch: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The SMART scopes the token is limited to (space-separated); None: all its user's access.
    scopes: Mapped[str | None] = mapped_column(String(1000))


class Invite(Base):
    __tablename__ = "invites"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginThrottle(Base):
    """Recent failed sign-ins of one source address or one email address (known or not).

    Keyed by a keyed hash of the address, so the table names no one and an email address with
    no account is counted exactly like one with an account. In the database so that every
    server instance sees the same counts.
    """

    __tablename__ = "login_throttles"

    key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "source" or "account"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
