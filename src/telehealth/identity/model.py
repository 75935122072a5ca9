"""Pure identity vocabulary: roles, license kinds, the acting principal."""

from __future__ import annotations

import functools
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import available_timezones

from telehealth.errors import DomainError, ErrorCode

# Role lives in the shared vocabulary; re-exported here, where callers have always found it.
from telehealth.vocabulary import Role as Role

MFA_REQUIRED_ROLES = frozenset({Role.CLINICIAN, Role.ADMIN})


class AdministrativeSex(StrEnum):
    """A patient's administrative sex, as FHIR's AdministrativeGender codes it."""

    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


def time_zone_choices() -> list[str]:
    """Every IANA zone a person may read times in: the United States' first (``America/...``
    zones the US observes and ``Pacific/Honolulu``), then the rest, each group alphabetical."""
    return sorted(_known_zones(), key=lambda name: (name not in US_ZONES, name))


US_ZONES = frozenset(
    {
        "America/New_York",
        "America/Detroit",
        "America/Indiana/Indianapolis",
        "America/Kentucky/Louisville",
        "America/Chicago",
        "America/Indiana/Knox",
        "America/Menominee",
        "America/North_Dakota/Center",
        "America/Denver",
        "America/Boise",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "America/Juneau",
        "America/Adak",
        "Pacific/Honolulu",
        "America/Puerto_Rico",
    }
)


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(
        {name for name in available_timezones() if "/" in name and not name.startswith("Etc/")}
    )


def check_time_zone(name: str) -> str:
    """``name`` if it is a zone people may choose; a clear error otherwise."""
    if name not in _known_zones():
        raise DomainError(ErrorCode.INVALID_INPUT, "Choose a time zone from the list.")
    return name


# Crockford's base 32: no I, L, O or U, so a number read aloud or copied by hand stays itself.
_RECORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_record_number() -> str:
    """A patient's record number, e.g. ``7KQ2-M9XD``: 40 random bits, unique within the org.

    Random rather than counted so that numbers reveal neither how many patients an organization
    has nor who registered first, and two registrations never race for the next number.
    """
    chars = "".join(secrets.choice(_RECORD_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


class CareSource(StrEnum):
    """How a clinician joined a patient's care team (``care_assignments.source``)."""

    VISIT_BOOKING = "visit_booking"
    REFERRAL = "referral"
    ENROLLMENT = "enrollment"
    CASE_CLAIM = "case_claim"
    COORDINATOR = "coordinator"
    # Memberships recorded before their source was: origin unknown, kept as they were.
    LEGACY = "legacy"


class LicenseKind(StrEnum):
    FULL = "full"
    TELEHEALTH_REGISTRATION = "telehealth_registration"
    COMPACT = "compact"


class CredentialKind(StrEnum):
    SESSION = "session"
    TOKEN = "token"  # noqa: S105 - a credential kind, not a secret
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, as established by authentication. Access decisions start here."""

    user_id: uuid.UUID
    role: Role
    org_id: uuid.UUID
    patient_id: uuid.UUID | None
    mfa_verified: bool
    credential: CredentialKind
    credential_id: uuid.UUID | None = None

    @property
    def is_staff(self) -> bool:
        return self.role is not Role.PATIENT

    @classmethod
    def of(
        cls,
        *,
        user_id: uuid.UUID,
        role: Role,
        org_id: uuid.UUID,
        patient_id: uuid.UUID | None,
        mfa_verified: bool,
        credential: CredentialKind,
        credential_id: uuid.UUID,
    ) -> Actor:
        """The actor a credential establishes; only a patient account carries a patient id."""
        return cls(
            user_id=user_id,
            role=role,
            org_id=org_id,
            patient_id=patient_id if role is Role.PATIENT else None,
            mfa_verified=mfa_verified,
            credential=credential,
            credential_id=credential_id,
        )

    @property
    def needs_mfa(self) -> bool:
        """Signed in without the second factor its role requires."""
        return self.role in MFA_REQUIRED_ROLES and not self.mfa_verified


def credential_current(
    *, revoked: bool, user_active: bool, user_epoch: int, credential_epoch: int
) -> bool:
    """Not revoked, and issued under the user's current password and role."""
    return not revoked and user_active and user_epoch == credential_epoch


@dataclass(frozen=True, slots=True)
class Backoff:
    """How one throttle key (a source address or an email address) slows down after failures."""

    free_failures: int
    base_seconds: int
    max_seconds: int
    window: timedelta

    def delay(self, failures: int) -> timedelta:
        """The wait after the latest of ``failures`` recent failures: none while they are few,
        then doubling up to the cap, so a key is slowed but never refused for good."""
        extra = failures - self.free_failures
        if extra < 0:
            return timedelta()
        # Capped before the power is taken, so a long run of failures cannot overflow it.
        seconds = self.base_seconds * 2 ** min(extra, 32)
        return timedelta(seconds=min(seconds, self.max_seconds))

    def failures_after(self, failures: int, last_failure_at: datetime | None, now: datetime) -> int:
        """The count once one more failure at ``now`` is added; older ones than the window
        are forgotten."""
        if last_failure_at is None or now - last_failure_at > self.window:
            return 1
        return failures + 1
