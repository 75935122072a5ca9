"""Identity and patient-record routes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request, Response

from telehealth import bounds
from telehealth.access import service as access
from telehealth.audit.model import Action
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.identity import credentials, queries, repository
from telehealth.identity import service as identity
from telehealth.identity.model import (
    CareSource,
    LicenseKind,
    Role,
    discipline_in_words,
    parse_discipline,
)
from telehealth.identity.schemas import (
    CareAssignIn,
    CareMemberOut,
    ClinicianOut,
    ClinicianProfileIn,
    ClinicianPublicOut,
    CompactIn,
    CompactOut,
    DeaIn,
    DeaOut,
    InviteAcceptIn,
    InviteAcceptOut,
    InviteOut,
    LicenseIn,
    LicenseOut,
    LoginIn,
    MeOut,
    MfaConfirmIn,
    MfaStartOut,
    PasswordChangeIn,
    PatientIn,
    PatientOut,
    PatientPatch,
    RoleChangeIn,
    SessionOut,
    TokenIn,
    TokenInfo,
    TokenOut,
    UserIn,
    UserOut,
    patient_out,
)
from telehealth.identity.scopes import Context, checked_scopes
from telehealth.identity.service import Keep
from telehealth.identity.tables import ClinicianProfile, User
from telehealth.scope import Scope
from telehealth.web.auth import (
    ActorDep,
    ScopeDep,
    clear_session_cookie,
    client_address,
    set_session_cookie,
)
from telehealth.web.scoped import ScopedRoute

router = APIRouter(prefix="/v1", route_class=ScopedRoute)


# --- sign in and out --------------------------------------------------------------------------


@router.post("/auth/login", tags=["auth"], response_model=SessionOut)
def login(body: LoginIn, request: Request, response: Response, scope: ScopeDep) -> SessionOut:
    issued = identity.login(
        scope, body.email, body.password, body.totp, source=client_address(request)
    )
    user = repository.user_by_email(scope.session, body.email)
    assert user is not None
    set_session_cookie(response, issued.secret, scope)
    return SessionOut(user_id=user.id, role=Role(user.role), expires_at=issued.expires_at)


@router.post("/auth/logout", tags=["auth"], status_code=204)
def logout(actor: ActorDep, request: Request, response: Response, scope: ScopeDep) -> None:
    identity.logout(scope)
    clear_session_cookie(request, response)


@router.get("/me", tags=["auth"], response_model=MeOut)
def me(actor: ActorDep, scope: ScopeDep) -> MeOut:
    user = _user(scope, actor.user_id)
    return MeOut(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=actor.role,
        org_id=user.org_id,
        patient_id=actor.patient_id,
        mfa_enabled=user.mfa_enabled,
    )


@router.post("/me/password", tags=["auth"], status_code=204)
def change_password(
    body: PasswordChangeIn, request: Request, actor: ActorDep, scope: ScopeDep
) -> None:
    identity.change_password(
        scope, body.current_password, body.new_password, source=client_address(request)
    )


@router.post("/me/mfa", tags=["auth"], response_model=MfaStartOut)
def start_mfa(actor: ActorDep, scope: ScopeDep) -> MfaStartOut:
    return MfaStartOut(provisioning_uri=identity.start_mfa_enrollment(scope))


@router.post("/me/mfa/confirm", tags=["auth"], status_code=204)
def confirm_mfa(body: MfaConfirmIn, actor: ActorDep, scope: ScopeDep) -> None:
    identity.confirm_mfa_enrollment(scope, body.code)


# --- API tokens -------------------------------------------------------------------------------

# A person's token takes patient/ and user/ scopes; system/ scopes are registered system
# clients' (SMART Backend Services, telehealth.fhir.clients).
USER_CONTEXTS = frozenset({Context.PATIENT, Context.USER})


@router.post("/tokens", tags=["auth"], response_model=TokenOut, status_code=201)
def create_token(body: TokenIn, actor: ActorDep, scope: ScopeDep) -> TokenOut:
    user = _user(scope, actor.user_id)
    scopes = None if body.scopes is None else checked_scopes(body.scopes, USER_CONTEXTS)
    issued = identity.issue_token(
        scope,
        user,
        label=body.label,
        minutes=body.minutes,
        mfa_verified=actor.mfa_verified,
        scopes=scopes,
    )
    return TokenOut(id=issued.id, token=issued.secret, expires_at=issued.expires_at)


@router.get("/tokens", tags=["auth"], response_model=list[TokenInfo])
def list_tokens(actor: ActorDep, scope: ScopeDep) -> list[TokenInfo]:
    return [
        TokenInfo(
            id=t.id,
            label=t.label,
            created_at=t.created_at,
            expires_at=t.expires_at,
            revoked=t.revoked_at is not None,
            scopes=t.scopes,
        )
        for t in repository.tokens_of(scope.session, actor.user_id)
    ]


@router.delete("/tokens/{token_id}", tags=["auth"], status_code=204)
def revoke_token(token_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> None:
    identity.revoke_token(scope, token_id)


# --- users and invites ------------------------------------------------------------------------


@router.get("/users", tags=["users"], response_model=list[UserOut])
def list_users(actor: ActorDep, scope: ScopeDep) -> list[UserOut]:
    manager = access.require_org_manager(scope)
    return [_user_out(u) for u in repository.users_in_org(scope.session, manager.org_id)]


@router.post("/users", tags=["users"], response_model=InviteOut, status_code=201)
def invite_user(body: UserIn, actor: ActorDep, scope: ScopeDep) -> InviteOut:
    """Creates an account without a password and returns its single-use invite link."""
    manager = access.require_org_manager(scope)
    if body.role in (Role.ADMIN, Role.COORDINATOR) and manager.role is not Role.ADMIN:
        raise DomainError(ErrorCode.FORBIDDEN, "only administrators create staff accounts")
    created = identity.create_user(
        scope,
        org_id=manager.org_id,
        email=body.email,
        role=body.role,
        display_name=body.display_name,
        password=None,
        discipline=body.discipline,
    )
    invite = identity.create_invite(scope, created.user.id)
    return InviteOut(
        user=_user_out(created.user),
        # The token travels in the fragment, which browsers never send to servers or logs.
        invite_url=scope.settings.link(f"/invite#token={invite.secret}"),
        expires_at=invite.expires_at,
    )


@router.post("/invites/accept", tags=["users"], response_model=InviteAcceptOut)
def accept_invite(body: InviteAcceptIn, scope: ScopeDep) -> InviteAcceptOut:
    accepted = identity.accept_invite(scope, body.token, body.password)
    uri = (
        credentials.totp_uri(accepted.totp_secret, accepted.user.email)
        if accepted.totp_secret
        else None
    )
    return InviteAcceptOut(user_id=accepted.user.id, totp_provisioning_uri=uri)


@router.put("/users/{user_id}/role", tags=["users"], response_model=UserOut)
def change_role(
    user_id: uuid.UUID, body: RoleChangeIn, actor: ActorDep, scope: ScopeDep
) -> UserOut:
    access.require_admin(scope)
    return _user_out(identity.change_role(scope, user_id, body.role))


# --- clinicians -------------------------------------------------------------------------------


@router.get(
    "/clinicians/{clinician_id}",
    tags=["clinicians"],
    response_model=ClinicianOut | ClinicianPublicOut,
    responses={
        200: {
            "description": "The profile with credentials (``ClinicianOut``) for the clinician "
            "and their organization's coordinators and administrators; the public profile "
            "(``ClinicianPublicOut``) for everyone else in the organization. Another "
            "organization's clinician is not found."
        }
    },
)
def get_clinician(
    clinician_id: uuid.UUID, actor: ActorDep, scope: ScopeDep
) -> ClinicianOut | ClinicianPublicOut:
    user = access.readable_clinician(scope, clinician_id)
    if access.may_see_credentials(scope, user):
        return _clinician_out(scope, user)
    return _public_clinician_out(_profile(scope, user), user)


@router.patch("/clinicians/{clinician_id}", tags=["clinicians"], response_model=ClinicianOut)
def update_clinician(
    clinician_id: uuid.UUID, body: ClinicianProfileIn, actor: ActorDep, scope: ScopeDep
) -> ClinicianOut:
    access.require_org_manager(scope)
    user = access.readable_clinician(scope, clinician_id)
    identity.set_clinician_profile(
        scope,
        user.id,
        specialties=body.specialties,
        video_capable=body.video_capable,
        npi=body.npi,
        # Omitted keeps the discipline; null clears it.
        discipline=body.discipline if "discipline" in body.model_fields_set else Keep.KEEP,
    )
    return _clinician_out(scope, user)


@router.post(
    "/clinicians/{clinician_id}/licenses",
    tags=["clinicians"],
    response_model=LicenseOut,
    status_code=201,
)
def add_license(
    clinician_id: uuid.UUID, body: LicenseIn, actor: ActorDep, scope: ScopeDep
) -> LicenseOut:
    access.require_org_manager(scope)
    user = access.readable_clinician(scope, clinician_id)
    lic = identity.add_license(
        scope,
        user.id,
        state=body.state,
        kind=body.kind,
        number=body.number,
        expires_on=body.expires_on,
    )
    return LicenseOut(
        id=lic.id,
        state=lic.state,
        kind=LicenseKind(lic.kind),
        number=lic.number,
        expires_on=lic.expires_on,
    )


@router.post(
    "/clinicians/{clinician_id}/compacts",
    tags=["clinicians"],
    response_model=CompactOut,
    status_code=201,
)
def add_compact(
    clinician_id: uuid.UUID, body: CompactIn, actor: ActorDep, scope: ScopeDep
) -> CompactOut:
    access.require_org_manager(scope)
    user = access.readable_clinician(scope, clinician_id)
    m = identity.add_compact(
        scope, user.id, compact=body.compact, principal_state=body.principal_state
    )
    return CompactOut(id=m.id, compact=m.compact, principal_state=m.principal_state)


@router.post(
    "/clinicians/{clinician_id}/dea-registrations",
    tags=["clinicians"],
    response_model=DeaOut,
    status_code=201,
)
def add_dea(clinician_id: uuid.UUID, body: DeaIn, actor: ActorDep, scope: ScopeDep) -> DeaOut:
    access.require_org_manager(scope)
    user = access.readable_clinician(scope, clinician_id)
    reg = identity.add_dea_registration(
        scope,
        user.id,
        state=body.state,
        number=body.number,
        schedules=body.schedules,
        expires_on=body.expires_on,
    )
    return DeaOut(
        id=reg.id,
        state=reg.state,
        number=reg.number,
        schedules=list(reg.schedules),
        expires_on=reg.expires_on,
    )


# --- patients ---------------------------------------------------------------------------------


@router.get("/patients", tags=["patients"], response_model=list[PatientOut])
def list_patients(
    actor: ActorDep,
    scope: ScopeDep,
    limit: Annotated[int, bounds.limit(200)] = 50,
    offset: bounds.Offset = 0,
) -> list[PatientOut]:
    patients = access.readable_patients(scope, limit=limit, offset=offset)
    access.record_listed(scope, "patient", [access.Listed(p.id, p.id) for p in patients])
    return [patient_out(p) for p in patients]


@router.post("/patients", tags=["patients"], response_model=PatientOut, status_code=201)
def create_patient(body: PatientIn, actor: ActorDep, scope: ScopeDep) -> PatientOut:
    manager = access.require_org_manager(scope)
    user_id = None
    if body.email is not None:
        created = identity.create_user(
            scope,
            org_id=manager.org_id,
            email=body.email,
            role=Role.PATIENT,
            display_name=f"{body.given_name} {body.family_name}",
            password=None,
        )
        user_id = created.user.id
    patient = identity.create_patient(
        scope,
        org_id=manager.org_id,
        given_name=body.given_name,
        family_name=body.family_name,
        birth_date=body.birth_date,
        home_state=body.home_state,
        phone=body.phone,
        user_id=user_id,
        sex=body.sex,
    )
    return patient_out(patient)


@router.get("/patients/{patient_id}", tags=["patients"], response_model=PatientOut)
def get_patient(patient_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> PatientOut:
    patient = access.readable_patient(scope, patient_id)
    scope.audit.record(Action.READ, "patient", patient.id, patient_id=patient.id)
    return patient_out(patient)


@router.patch("/patients/{patient_id}", tags=["patients"], response_model=PatientOut)
def update_patient(
    patient_id: uuid.UUID, body: PatientPatch, actor: ActorDep, scope: ScopeDep
) -> PatientOut:
    patient = access.writable_patient(scope, patient_id)
    if body.version != patient.version:
        raise DomainError(ErrorCode.CONFLICT, "the record changed since it was read; reload it")
    changes = body.model_dump(mode="json", exclude_unset=True, exclude={"version"})
    if "home_state" in changes and changes["home_state"] is not None:
        changes["home_state"] = identity.check_state(changes["home_state"], "home_state")
    for key, value in changes.items():
        setattr(patient, key, value)
    patient.version += 1
    patient.updated_at = scope.clock.now()
    scope.audit.record(
        Action.UPDATE,
        "patient",
        patient.id,
        patient_id=patient.id,
        detail={"fields": ",".join(sorted(changes))},
    )
    return patient_out(patient)


@router.post("/patients/{patient_id}/care-team", tags=["patients"], status_code=204)
def assign_care(
    patient_id: uuid.UUID, body: CareAssignIn, actor: ActorDep, scope: ScopeDep
) -> None:
    access.require_org_manager(scope)
    patient = access.readable_patient(scope, patient_id)
    access.extend_care(
        scope, patient, body.clinician_id, CareSource.COORDINATOR, ends_at=body.ends_at
    )


@router.get("/patients/{patient_id}/care-team", tags=["patients"])
def care_team(patient_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> list[CareMemberOut]:
    """The patient's care team, past memberships included, for whoever may read the patient."""
    patient = access.readable_patient(scope, patient_id)
    now = scope.clock.now()
    members = repository.care_team_of(scope.session, patient.id)
    scope.audit.record(Action.READ, "care_team", patient.id, patient_id=patient.id)
    return [
        CareMemberOut(
            clinician_id=member.clinician_id,
            display_name=name,
            source=member.source,
            granted_by=member.granted_by,
            since=member.created_at,
            ends_at=member.ends_at,
            current=member.ends_at is None or member.ends_at > now,
        )
        for member, name in members
    ]


@router.delete(
    "/patients/{patient_id}/care-team/{clinician_id}", tags=["patients"], status_code=204
)
def end_care(
    patient_id: uuid.UUID, clinician_id: uuid.UUID, actor: ActorDep, scope: ScopeDep
) -> None:
    """Ends a clinician's membership of the patient's care team now (coordinators and
    administrators of the patient's organization)."""
    access.require_org_manager(scope)
    patient = access.readable_patient(scope, patient_id)
    access.end_care(scope, patient, clinician_id)


# --- helpers ----------------------------------------------------------------------------------


def _user(scope: Scope, user_id: uuid.UUID) -> User:
    user = queries.user_by_id(scope.session, user_id)
    if user is None:
        raise not_found("user")
    return user


def _profile(scope: Scope, user: User) -> ClinicianProfile:
    profile = queries.clinician_profile(scope.session, user.id)
    assert profile is not None
    return profile


def _public_clinician_out(profile: ClinicianProfile, user: User) -> ClinicianPublicOut:
    return ClinicianPublicOut(
        user_id=user.id,
        display_name=user.display_name,
        specialties=list(profile.specialties),
        video_capable=profile.video_capable,
        discipline=parse_discipline(profile.discipline),
        discipline_words=discipline_in_words(profile.discipline),
    )


def _clinician_out(scope: Scope, user: User) -> ClinicianOut:
    profile = _profile(scope, user)
    return ClinicianOut(
        **_public_clinician_out(profile, user).model_dump(),
        npi=profile.npi,
        licenses=[
            LicenseOut(
                id=x.id,
                state=x.state,
                kind=LicenseKind(x.kind),
                number=x.number,
                expires_on=x.expires_on,
            )
            for x in queries.licenses_of(scope.session, user.id)
        ],
        compacts=[
            CompactOut(id=c.id, compact=c.compact, principal_state=c.principal_state)
            for c in repository.compacts_of(scope.session, user.id)
        ],
        dea_registrations=[
            DeaOut(
                id=d.id,
                state=d.state,
                number=d.number,
                schedules=list(d.schedules),
                expires_on=d.expires_on,
            )
            for d in queries.dea_of(scope.session, user.id)
        ],
    )


def _user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=Role(user.role),
        active=user.active,
        mfa_enabled=user.mfa_enabled,
    )
