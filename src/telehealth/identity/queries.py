"""What other capabilities may build queries from over identity's data: the one public module of
identity's SQL (the import contracts forbid ``identity.repository`` and ``identity.tables``
elsewhere).

Published, and why:

- the care team as expressions (:func:`care_current`, :func:`patients_in_care_of`,
  :func:`in_care`, :func:`care_team_exists`), so every capability follows care by the one test
  of a membership's end, without the care-assignment table;
- the bearer lookup (:func:`bearer_select`, :data:`BEARER_ACTOR`), which fast reads extend with
  their own columns and joins;
- small reads by key (users, patients, organizations, care assignments, clinician profiles
  and credentials), an organization's active coordinators (:func:`coordinators_of`) and its
  clinicians with their profiles (:func:`clinicians_of`, narrowed by a :class:`ClinicianFilter`);
- the mapped classes :class:`Patient` and :class:`User`, for reads only: a capability lists or
  joins whole patient rows (access's patient list, monitoring's panel, the portal's intake page)
  and reads the columns of the user a bearer lookup or a notification names. They are never
  written outside identity, whose service makes every change.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Exists,
    LargeBinary,
    Select,
    String,
    bindparam,
    cast,
    exists,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from telehealth.db.base import UTCDateTime
from telehealth.db.reader import AnySelect, keyed
from telehealth.identity.model import Role
from telehealth.identity.tables import (
    ApiToken,
    CareAssignment,
    ClinicianProfile,
    DeaRegistration,
    License,
    Organization,
    Patient,
    User,
)

__all__ = [
    "BEARER_ACTOR",
    "CARE_NOW",
    "ClinicianFilter",
    "Patient",
    "User",
    "bearer_select",
    "care_assignment",
    "care_current",
    "care_team_exists",
    "clinician_profile",
    "clinicians_of",
    "coordinators_of",
    "dea_of",
    "in_care",
    "licenses_of",
    "organization_by_id",
    "patient_by_id",
    "patients_in_care_of",
    "user_by_id",
]


def user_by_id(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def organization_by_id(session: Session, org_id: uuid.UUID) -> Organization | None:
    return session.get(Organization, org_id)


def patient_by_id(session: Session, patient_id: uuid.UUID) -> Patient | None:
    return session.get(Patient, patient_id)


def patients_by_ids(session: Session, patient_ids: Iterable[uuid.UUID]) -> Sequence[Patient]:
    wanted = set(patient_ids)
    if not wanted:
        return []
    return session.execute(select(Patient).where(Patient.id.in_(wanted))).scalars().all()


def coordinators_of(session: Session, org_id: uuid.UUID) -> Sequence[uuid.UUID]:
    """The active coordinators of an organization, by id."""
    return (
        session.execute(
            select(User.id)
            .where(
                User.org_id == org_id, User.role == Role.COORDINATOR.value, User.active.is_(True)
            )
            .order_by(User.id)
        )
        .scalars()
        .all()
    )


# --- care team --------------------------------------------------------------------------------


def care_current(care: Any, now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """Whether a care assignment (the table or its columns) still lasts at ``now``: the one
    test of ``ends_at``, in every query that follows care."""
    return or_(care.ends_at.is_(None), care.ends_at > now)


CARE_NOW = bindparam("care_now", type_=UTCDateTime())
"""The time a statement built once tests care at: pass it as ``care_now``."""


def patients_in_care_of(
    clinician_id: uuid.UUID | ColumnElement[uuid.UUID],
    now: datetime | ColumnElement[datetime] = CARE_NOW,
) -> Select[uuid.UUID]:
    """A clinician's patients, as a subquery; bound parameters stand for the clinician and the
    time in statements built once."""
    return select(CareAssignment.patient_id).where(
        CareAssignment.clinician_id == clinician_id, care_current(CareAssignment, now)
    )


def in_care(
    clinician_id: ColumnElement[uuid.UUID],
    patient_id: ColumnElement[uuid.UUID],
    now: ColumnElement[datetime],
) -> Exists:
    """Whether a clinician is on a patient's care team at ``now``. The key columns may come from
    an enclosing statement (see :func:`telehealth.db.reader.keyed`)."""
    return (
        exists()
        .where(
            CareAssignment.clinician_id == clinician_id,
            CareAssignment.patient_id == patient_id,
            care_current(CareAssignment, now),
        )
        .correlate_except(CareAssignment)
    )


def care_team_exists(patient_id: uuid.UUID, now: datetime) -> Exists:
    """Whether anyone is on a patient's care team at ``now``."""
    return exists().where(
        CareAssignment.patient_id == patient_id, care_current(CareAssignment, now)
    )


def care_assignment(
    session: Session, clinician_id: uuid.UUID, patient_id: uuid.UUID
) -> CareAssignment | None:
    return session.execute(
        select(CareAssignment).where(
            CareAssignment.clinician_id == clinician_id,
            CareAssignment.patient_id == patient_id,
        )
    ).scalar_one_or_none()


# --- clinicians' credentials ------------------------------------------------------------------


def clinician_profile(session: Session, user_id: uuid.UUID) -> ClinicianProfile | None:
    return session.get(ClinicianProfile, user_id)


@dataclass(frozen=True, slots=True)
class ClinicianFilter:
    """Narrows a list of an organization's clinicians (the FHIR Practitioner and
    PractitionerRole searches): each field set must hold. ``name`` matches the start of any
    word of the display name, ignoring case; ``specialties`` any of the profile's
    specialties; ``active`` None lists active and inactive accounts alike."""

    ids: Sequence[uuid.UUID] | None = None
    npis: Sequence[str] | None = None
    name: str | None = None
    active: bool | None = True
    specialties: Sequence[str] | None = None


def clinicians_of(
    session: Session,
    org_id: uuid.UUID,
    *,
    where: ClinicianFilter | None = None,
    limit: int = 200,
    offset: int = 0,
) -> Sequence[tuple[User, ClinicianProfile | None]]:
    """An organization's clinicians by name, with their profiles: the active ones (booking's
    choice) unless ``where`` says otherwise."""
    where = where or ClinicianFilter()
    query = (
        select(User, ClinicianProfile)
        .outerjoin(ClinicianProfile, ClinicianProfile.user_id == User.id)
        .where(User.org_id == org_id, User.role == Role.CLINICIAN.value)
    )
    if where.active is not None:
        query = query.where(User.active.is_(where.active))
    if where.ids is not None:
        query = query.where(User.id.in_(where.ids))
    if where.npis is not None:
        query = query.where(ClinicianProfile.npi.in_(where.npis))
    if where.name:
        start = where.name.lower()
        shown = func.lower(User.display_name)
        query = query.where(
            or_(
                shown.startswith(start, autoescape=True),
                shown.contains(" " + start, autoescape=True),
            )
        )
    if where.specialties is not None:
        # Specialties are stored as a JSON list: an element is its JSON string, quotes and all.
        stored = cast(ClinicianProfile.specialties, String)
        query = query.where(
            or_(
                false(),
                *(stored.contains(json.dumps(s), autoescape=True) for s in where.specialties),
            )
        )
    rows = session.execute(
        query.order_by(User.display_name, User.id).limit(limit).offset(offset)
    ).all()
    return [(user, profile) for user, profile in rows]


def licenses_of(session: Session, clinician_id: uuid.UUID) -> Sequence[License]:
    return session.execute(_LICENSES_OF, {"clinician_id": clinician_id}).scalars().all()


# Asked by every queue and scheduling check of a clinician; built once, as building a
# statement and its cache key costs more than running it.
_LICENSES_OF = (
    select(License).where(License.clinician_id == bindparam("clinician_id")).order_by(License.state)
)


def dea_of(session: Session, clinician_id: uuid.UUID) -> Sequence[DeaRegistration]:
    return (
        session.execute(
            select(DeaRegistration)
            .where(DeaRegistration.clinician_id == clinician_id)
            .order_by(DeaRegistration.state)
        )
        .scalars()
        .all()
    )


# --- bearer tokens ----------------------------------------------------------------------------


_OWN_PATIENT = aliased(Patient, name="own_patient")


def bearer_select(
    token_hash: ColumnElement[bytes], *columns: ColumnElement[Any] | InstrumentedAttribute[Any]
) -> AnySelect:
    """The credential whose hash is ``token_hash``, its user and the user's own patient id
    (the columns :func:`telehealth.identity.fast.token_actor` reads), plus ``columns``;
    callers add joins."""
    return (
        select(
            ApiToken.id.label("credential_id"),
            ApiToken.mfa_verified,
            ApiToken.credentials_epoch.label("credential_epoch"),
            ApiToken.expires_at,
            ApiToken.revoked_at,
            ApiToken.scopes,
            User.id.label("user_id"),
            User.role,
            User.org_id.label("user_org_id"),
            User.active,
            User.credentials_epoch.label("user_epoch"),
            User.system_client,
            _OWN_PATIENT.id.label("own_patient_id"),
            *columns,
        )
        .select_from(ApiToken)
        .join(User, User.id == ApiToken.user_id)
        .outerjoin(_OWN_PATIENT, _OWN_PATIENT.user_id == User.id)
        .where(ApiToken.token_hash == token_hash)
    )


BEARER_ACTOR = keyed(bearer_select, token_hash=LargeBinary())
