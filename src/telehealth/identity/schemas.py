"""Request and response bodies for identity routes. Inputs forbid unknown fields."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from functools import partial
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from telehealth.bounds import Day, Moment, Version
from telehealth.identity.model import AdministrativeSex, LicenseKind, Role
from telehealth.vocabulary import Discipline

# Syntax only: deliverability is proven by the invite reaching the person, not by DNS.
EmailStr = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=320,
        pattern=r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$",
    ),
]


def _blank_as_none(value: object) -> object:
    # A cleared form field arrives as "": the patient has no phone, not a phone called "".
    if isinstance(value, str) and not value.strip():
        return None
    return value


Phone = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None,
    BeforeValidator(_blank_as_none),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(Strict):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)
    totp: str | None = Field(default=None, max_length=12)


class SessionOut(Strict):
    user_id: uuid.UUID
    role: Role
    expires_at: datetime


class MeOut(Strict):
    user_id: uuid.UUID
    email: str
    display_name: str
    role: Role
    org_id: uuid.UUID
    patient_id: uuid.UUID | None
    mfa_enabled: bool


class PasswordChangeIn(Strict):
    current_password: str = Field(max_length=256)
    new_password: str = Field(min_length=12, max_length=128)


class MfaStartOut(Strict):
    provisioning_uri: str


class MfaConfirmIn(Strict):
    code: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$")


class TokenIn(Strict):
    label: str = Field(default="api", max_length=100)
    minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    # SMART v2 scopes the token is limited to ("patient/*.rs user/Observation.rs"); a token
    # with scopes acts on the FHIR API only. None: all of the user's access.
    scopes: str | None = Field(default=None, max_length=1000)


class TokenOut(Strict):
    id: uuid.UUID
    token: str
    expires_at: datetime


class TokenInfo(Strict):
    id: uuid.UUID
    label: str
    created_at: datetime
    expires_at: datetime
    revoked: bool
    scopes: str | None


class UserIn(Strict):
    email: EmailStr
    display_name: str = Field(min_length=1, max_length=200)
    role: Role
    # A clinician's licensed discipline (``physician``, ``np``, ``pt`` ...); only clinicians.
    discipline: Discipline | None = None


class UserOut(Strict):
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    active: bool
    mfa_enabled: bool


class InviteOut(Strict):
    user: UserOut
    invite_url: str
    expires_at: datetime


class InviteAcceptIn(Strict):
    token: str = Field(min_length=20, max_length=200)
    password: str = Field(min_length=12, max_length=128)


class InviteAcceptOut(Strict):
    user_id: uuid.UUID
    totp_provisioning_uri: str | None


class RoleChangeIn(Strict):
    role: Role


class LicenseIn(Strict):
    state: str = Field(min_length=2, max_length=2)
    kind: LicenseKind
    number: str = Field(min_length=1, max_length=64)
    expires_on: Day | None = None


class LicenseOut(Strict):
    id: uuid.UUID
    state: str
    kind: LicenseKind
    number: str
    expires_on: date | None


class CompactIn(Strict):
    compact: str = Field(min_length=2, max_length=32)
    principal_state: str = Field(min_length=2, max_length=2)


class CompactOut(Strict):
    id: uuid.UUID
    compact: str
    principal_state: str


class DeaIn(Strict):
    state: str = Field(min_length=2, max_length=2)
    number: str = Field(min_length=2, max_length=16)
    schedules: list[str] = Field(min_length=1, max_length=4)
    expires_on: Day | None = None


class DeaOut(Strict):
    id: uuid.UUID
    state: str
    number: str
    schedules: list[str]
    expires_on: date | None


class ClinicianProfileIn(Strict):
    specialties: list[str] | None = Field(default=None, max_length=20)
    video_capable: bool | None = None
    npi: str | None = Field(default=None, pattern=r"^\d{10}$")
    # The licensed discipline; null clears it (not recorded), omitted keeps it.
    discipline: Discipline | None = None


class ClinicianPublicOut(Strict):
    """A clinician as their organization's patients and colleagues see them."""

    user_id: uuid.UUID
    display_name: str
    specialties: list[str]
    video_capable: bool
    # The licensed discipline's code and the same in words ("Physical therapist"); null when
    # not recorded.
    discipline: Discipline | None
    discipline_words: str | None


class ClinicianOut(ClinicianPublicOut):
    """The public profile with the credentials, for the clinician themself and for their
    organization's coordinators and administrators."""

    npi: str | None
    licenses: list[LicenseOut]
    compacts: list[CompactOut]
    dea_registrations: list[DeaOut]


class PatientIn(Strict):
    given_name: str = Field(min_length=1, max_length=120)
    family_name: str = Field(min_length=1, max_length=120)
    birth_date: Day
    home_state: str = Field(min_length=2, max_length=2)
    phone: Phone = None
    email: EmailStr | None = None
    # FHIR administrative sex; omitted or null: not recorded.
    sex: AdministrativeSex | None = None


Name = Annotated[str, StringConstraints(min_length=1, max_length=120)]
StateCode = Annotated[str, StringConstraints(min_length=2, max_length=2)]


class PatientPatch(Strict):
    # Optional, never null: only the phone may be cleared.
    given_name: Name | SkipJsonSchema[None] = None
    family_name: Name | SkipJsonSchema[None] = None
    home_state: StateCode | SkipJsonSchema[None] = None
    phone: Phone = None
    # null clears it: not recorded.
    sex: AdministrativeSex | None = None
    version: Version = Field(description="the version read; a stale version is refused with 409")

    @model_validator(mode="after")
    def _required_stay_set(self) -> PatientPatch:
        # A null name or state would fail in the database.
        for name in ("given_name", "family_name", "home_state"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be cleared")
        return self


class PatientOut(Strict):
    id: uuid.UUID
    given_name: str
    family_name: str
    birth_date: date
    home_state: str
    phone: str | None
    version: int
    # The number staff quote to tell patients apart, e.g. "7KQ2-M9XD" (unique in the org).
    record_number: str
    sex: AdministrativeSex | None


def patient_out(source: Any) -> PatientOut:
    """The one mapping of a patient record to its schema, for the route (a ``Patient`` row
    object) and the fast lane (a statement's columns named as the schema's fields)."""
    get = source.__getitem__ if isinstance(source, Mapping) else partial(getattr, source)
    return PatientOut(**{name: get(name) for name in PatientOut.model_fields})


class CareAssignIn(Strict):
    clinician_id: uuid.UUID
    # When the membership ends (exclusive); omitted, it lasts until ended.
    ends_at: Moment | None = None


class CareMemberOut(BaseModel):
    """A membership of a patient's care team: who, since when, where it came from (a visit
    booking, a referral, an enrollment, a case claim, a coordinator), who extended the team,
    and when it ends (None while it lasts)."""

    clinician_id: uuid.UUID
    display_name: str
    source: str
    granted_by: uuid.UUID | None
    since: datetime
    ends_at: datetime | None
    current: bool
