"""Pure identity vocabulary: roles, license kinds, the acting principal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    PATIENT = "patient"
    CLINICIAN = "clinician"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


MFA_REQUIRED_ROLES = frozenset({Role.CLINICIAN, Role.ADMIN})


class LicenseKind(StrEnum):
    FULL = "full"
    TELEHEALTH_REGISTRATION = "telehealth_registration"
    COMPACT = "compact"


class CredentialKind(StrEnum):
    SESSION = "session"
    TOKEN = "token"  # noqa: S105 - a credential kind, not a secret
    SYSTEM = "system"


US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
    ]
)

CONTROLLED_SCHEDULES = ("II", "III", "IV", "V")


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
