"""Pure identity vocabulary: roles, license kinds, the acting principal."""

from __future__ import annotations

import functools
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import available_timezones

from telehealth.errors import DomainError, ErrorCode
from telehealth.vocabulary import DISCIPLINE_WORDS, DISCIPLINES, Discipline

# Role lives in the shared vocabulary; re-exported here, where callers have always found it.
from telehealth.vocabulary import Role as Role

MFA_REQUIRED_ROLES = frozenset({Role.CLINICIAN, Role.ADMIN})


class AdministrativeSex(StrEnum):
    """A patient's administrative sex, as FHIR's AdministrativeGender codes it."""

    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


SEX_WORDS: dict[str | None, str] = {
    AdministrativeSex.FEMALE.value: "Female",
    AdministrativeSex.MALE.value: "Male",
    AdministrativeSex.OTHER.value: "Other",
    AdministrativeSex.UNKNOWN.value: "Unknown",
    None: "Not recorded",
}


def sex_in_words(code: str | None) -> str:
    """A stored administrative sex as a person reads it ("Female", "Not recorded")."""
    return SEX_WORDS.get(code, "Not recorded")


def discipline_in_words(code: str | None) -> str | None:
    """A clinician's discipline as people read it ("Physical therapist"); None if not recorded."""
    known = next((d for d in DISCIPLINES if d == code), None)
    return DISCIPLINE_WORDS[known] if known is not None else None


def parse_discipline(value: str | None, field: str = "discipline") -> Discipline | None:
    """A discipline code from a form or body: blank is "not recorded"; anything else must be
    one of ``vocabulary.DISCIPLINES``, else the refusal names ``field``."""
    if value is None or not value.strip():
        return None
    for code in DISCIPLINES:
        if code == value.strip():
            return code
    raise DomainError(
        ErrorCode.INVALID_INPUT,
        "choose the clinician's discipline from the list, or leave it not recorded",
        field=field,
    )


def age_on(birth: date, day: date) -> int:
    """Whole years from ``birth`` to ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


class PatientRecord(Protocol):
    """What a patient banner reads of a patient row."""

    @property
    def given_name(self) -> str: ...
    @property
    def family_name(self) -> str: ...
    @property
    def birth_date(self) -> date: ...
    @property
    def home_state(self) -> str: ...
    @property
    def sex(self) -> str | None: ...
    @property
    def record_number(self) -> str: ...


@dataclass(frozen=True, slots=True)
class PatientBanner:
    """Who the patient is, as staff see it at the top of every page they work on: full name,
    age and date of birth, sex in words, home state and record number."""

    name: str
    age: int
    birth_date: date
    sex: str
    home_state: str
    record_number: str

    @classmethod
    def of(cls, patient: PatientRecord, today: date) -> PatientBanner:
        """The banner of ``patient`` on ``today`` (the scope clock's date, never the host's)."""
        return cls(
            name=f"{patient.given_name} {patient.family_name}",
            age=age_on(patient.birth_date, today),
            birth_date=patient.birth_date,
            sex=sex_in_words(patient.sex),
            home_state=patient.home_state,
            record_number=patient.record_number,
        )


# The zones of the United States, east to west: listed first wherever a zone is chosen.
US_ZONES: tuple[str, ...] = (
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
    "Pacific/Guam",
)


# The areas of the tz database's canonical Area/Location names; the rest are aliases
# ("US/Pacific", "posix/...") or offsets without a place ("Etc/GMT+5").
_ZONE_AREAS = (
    "Africa/",
    "America/",
    "Antarctica/",
    "Arctic/",
    "Asia/",
    "Atlantic/",
    "Australia/",
    "Europe/",
    "Indian/",
    "Pacific/",
)


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(name for name in available_timezones() if name.startswith(_ZONE_AREAS))


@functools.cache
def time_zone_choices() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The zones a person may choose: the United States' (east to west), then every other,
    alphabetical."""
    us = tuple(z for z in US_ZONES if z in _known_zones())
    return us, tuple(sorted(_known_zones() - set(us)))


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


# The languages clinicians hold visits in (BCP 47 tags, ``clinician_profiles.languages``), with
# the names people read. A short list of the tags in use rather than a locale library.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "es": "Spanish",
    "zh": "Chinese",
    "vi": "Vietnamese",
    "tl": "Tagalog",
    "ar": "Arabic",
    "fr": "French",
    "ko": "Korean",
    "ru": "Russian",
    "pt": "Portuguese",
    "de": "German",
    "hi": "Hindi",
    "ht": "Haitian Creole",
    "ase": "American Sign Language",
}


def language_name(tag: str) -> str:
    """A language's name for a tag (``es-MX`` reads as Spanish), or the tag itself."""
    return LANGUAGE_NAMES.get(tag, LANGUAGE_NAMES.get(tag.split("-")[0].lower(), tag))


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
    # A token issued to a registered system client (SMART Backend Services): it acts as the
    # client's service account, which has no password and never signs in to pages.
    CLIENT = "client"


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
    # The SMART scopes the credential is limited to (a token made with scopes); None: all of
    # its user's access. Scoped credentials act on the FHIR API only (ADR 0021).
    scopes: str | None = None

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
        scopes: str | None = None,
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
            scopes=scopes,
        )

    @property
    def needs_mfa(self) -> bool:
        """Signed in without the second factor its role requires."""
        return self.role in MFA_REQUIRED_ROLES and not self.mfa_verified


@dataclass(frozen=True, slots=True)
class Signer:
    """Who signed a clinical document, as its readers see them: the name, and the specialty the
    document was signed in, in words (``None`` for a signer with no specialty on file)."""

    id: uuid.UUID
    name: str
    specialty: str | None


def specialty_words(specialty: str) -> str:
    """A specialty as people read it: ``internal_medicine`` is "Internal medicine"."""
    return specialty.replace("_", " ").capitalize()


def signing_specialty(specialties: list[str], prefer: str | None = None) -> str | None:
    """The specialty a signature names: ``prefer`` (the case's) when the signer holds it, else
    the first on their profile."""
    if prefer is not None and prefer in specialties:
        return specialty_words(prefer)
    return specialty_words(specialties[0]) if specialties else None


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
