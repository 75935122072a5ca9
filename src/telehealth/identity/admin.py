"""Organization management for coordinators and administrators: the organization's users,
invitations, and clinicians' licenses and DEA registrations.

Every action first asks ``access`` whether the actor manages the organization; a clinician of
another organization is not found, as a missing one is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from telehealth.access import service as access
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.identity import queries, repository
from telehealth.identity import service as identity
from telehealth.identity.model import AdministrativeSex, LicenseKind, Role
from telehealth.identity.tables import (
    ClinicianProfile,
    CompactMembership,
    DeaRegistration,
    License,
    User,
)
from telehealth.scope import Scope
from telehealth.vocabulary import Discipline


def org_users(scope: Scope) -> list[User]:
    manager = access.require_org_manager(scope)
    return list(repository.users_in_org(scope.session, manager.org_id))


def org_disciplines(scope: Scope) -> dict[uuid.UUID, str | None]:
    """The disciplines of the manager's organization's clinicians, by clinician id."""
    manager = access.require_org_manager(scope)
    return repository.disciplines_in_org(scope.session, manager.org_id)


def org_clinicians(scope: Scope) -> list[User]:
    """The clinicians of the manager's organization, by name."""
    manager = access.require_org_manager(scope)
    return list(repository.clinicians_in_org(scope.session, manager.org_id))


@dataclass(frozen=True)
class Invitation:
    user: User
    invite_url: str
    expires_at: datetime


def invite_user(
    scope: Scope,
    *,
    email: str,
    display_name: str,
    role: Role,
    discipline: Discipline | None = None,
) -> Invitation:
    manager = access.require_org_manager(scope)
    if role in (Role.ADMIN, Role.COORDINATOR) and manager.role is not Role.ADMIN:
        raise DomainError(ErrorCode.FORBIDDEN, "only administrators create staff accounts")
    if role is Role.PATIENT:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "patients are invited with their record", field="role"
        )
    created = identity.create_user(
        scope,
        org_id=manager.org_id,
        email=email,
        role=role,
        display_name=display_name,
        password=None,
        discipline=discipline,
    )
    return _invitation(scope, created.user)


@dataclass(frozen=True)
class PatientInput:
    given_name: str
    family_name: str
    birth_date: date
    home_state: str
    email: str
    sex: AdministrativeSex | None = None


def invite_patient(scope: Scope, data: PatientInput) -> Invitation:
    manager = access.require_org_manager(scope)
    created = identity.create_user(
        scope,
        org_id=manager.org_id,
        email=data.email,
        role=Role.PATIENT,
        display_name=f"{data.given_name} {data.family_name}",
        password=None,
    )
    identity.create_patient(
        scope,
        org_id=manager.org_id,
        given_name=data.given_name,
        family_name=data.family_name,
        birth_date=data.birth_date,
        home_state=data.home_state,
        user_id=created.user.id,
        sex=data.sex,
    )
    return _invitation(scope, created.user)


def _invitation(scope: Scope, user: User) -> Invitation:
    invite = identity.create_invite(scope, user.id)
    # The token travels in the fragment, which browsers never send to servers or logs.
    url = scope.settings.link(f"/invite#token={invite.secret}")
    return Invitation(user=user, invite_url=url, expires_at=invite.expires_at)


@dataclass
class Credentials:
    user: User
    profile: ClinicianProfile
    licenses: list[License]
    compacts: list[CompactMembership]
    dea: list[DeaRegistration]


def org_clinician(scope: Scope, clinician_id: uuid.UUID) -> User:
    access.require_org_manager(scope)
    return access.readable_clinician(scope, clinician_id)


def clinician_credentials(scope: Scope, clinician_id: uuid.UUID) -> Credentials:
    user = org_clinician(scope, clinician_id)
    profile = queries.clinician_profile(scope.session, user.id)
    if profile is None:
        raise not_found("clinician")
    return Credentials(
        user=user,
        profile=profile,
        licenses=list(queries.licenses_of(scope.session, user.id)),
        compacts=list(repository.compacts_of(scope.session, user.id)),
        dea=list(queries.dea_of(scope.session, user.id)),
    )


def set_languages(scope: Scope, clinician_id: uuid.UUID, languages: list[str]) -> ClinicianProfile:
    """The languages a clinician of the manager's organization holds visits in."""
    user = org_clinician(scope, clinician_id)
    return identity.set_clinician_profile(scope, user.id, languages=languages)


def set_discipline(
    scope: Scope, clinician_id: uuid.UUID, discipline: Discipline | None
) -> ClinicianProfile:
    """A clinician's licensed discipline (None: not recorded), which decisions use."""
    user = org_clinician(scope, clinician_id)
    return identity.set_clinician_profile(scope, user.id, discipline=discipline)


def add_license(
    scope: Scope,
    clinician_id: uuid.UUID,
    *,
    state: str,
    kind: str,
    number: str,
    expires_on: date | None,
) -> License:
    user = org_clinician(scope, clinician_id)
    try:
        license_kind = LicenseKind(kind)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "choose a license kind", field="kind") from exc
    return identity.add_license(
        scope, user.id, state=state, kind=license_kind, number=number, expires_on=expires_on
    )


def add_dea(
    scope: Scope,
    clinician_id: uuid.UUID,
    *,
    state: str,
    number: str,
    schedules: list[str],
    expires_on: date | None,
) -> DeaRegistration:
    user = org_clinician(scope, clinician_id)
    return identity.add_dea_registration(
        scope, user.id, state=state, number=number, schedules=schedules, expires_on=expires_on
    )
