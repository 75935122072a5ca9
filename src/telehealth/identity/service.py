"""Identity actions. Each one that changes something records its audit event."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum

from sqlalchemy.orm import Session

from telehealth.audit.model import Action, Outcome
from telehealth.clock import ensure_utc
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.identity import credentials, keys, queries, repository
from telehealth.identity.model import (
    LANGUAGE_NAMES,
    MFA_REQUIRED_ROLES,
    Actor,
    AdministrativeSex,
    Backoff,
    CareSource,
    CredentialKind,
    LicenseKind,
    Role,
    Signer,
    check_time_zone,
    credential_current,
    signing_specialty,
)
from telehealth.identity.tables import (
    ApiToken,
    CareAssignment,
    ClinicianProfile,
    CompactMembership,
    DeaRegistration,
    Invite,
    License,
    LoginSession,
    Organization,
    Patient,
    User,
)
from telehealth.logging import get_logger
from telehealth.scope import Scope
from telehealth.vocabulary import CONTROLLED_SCHEDULES, US_STATES, Discipline

SESSION_PREFIX = "ths"
TOKEN_PREFIX = "tht"  # noqa: S105 - a public prefix that marks token type
INVITE_PREFIX = "thi"

log = get_logger("telehealth.identity")


def _keyring(scope: Scope) -> credentials.SecretKeyring:
    return keys.secret_keyring(scope.settings)


def _totp_secret(scope: Scope, user: User, sealed: bytes) -> str:
    """The user's TOTP seed. One no configured app secret opens is a configuration error,
    logged with the missing key's id (never the key) for the operator."""
    try:
        return _keyring(scope).open(sealed)
    except DomainError as exc:
        log.error("mfa_secret_unreadable", user_id=str(user.id), key_id=exc.data.get("key_id"))
        raise


def check_state(state: str, field: str) -> str:
    upper = state.upper()
    if upper not in US_STATES:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{field} must be a US state code", field=field)
    return upper


# --- organizations, users, patients ---------------------------------------------------------


def create_organization(scope: Scope, name: str, *, is_demo: bool = False) -> Organization:
    org = Organization(name=name, is_demo=is_demo, created_at=scope.clock.now())
    scope.session.add(org)
    scope.session.flush()
    return org


@dataclass(frozen=True)
class NewUser:
    user: User
    totp_secret: str | None


def create_user(
    scope: Scope,
    *,
    org_id: uuid.UUID,
    email: str,
    role: Role,
    display_name: str,
    password: str | None,
    discipline: Discipline | None = None,
    system_client: bool = False,
) -> NewUser:
    """A new account; a clinician's comes with a profile (``discipline``: theirs, if known).
    ``system_client``: the service account of a registered system client, which has no
    password and takes no invite."""
    if discipline is not None and role is not Role.CLINICIAN:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "only clinicians have a discipline", field="discipline"
        )
    if repository.user_by_email(scope.session, email) is not None:
        raise DomainError(ErrorCode.ALREADY_EXISTS, "an account with that email already exists")
    totp_secret = credentials.new_totp_secret() if role in MFA_REQUIRED_ROLES else None
    user = User(
        org_id=org_id,
        email=email.lower(),
        display_name=display_name,
        role=role.value,
        password_hash=credentials.hash_password(password) if password else None,
        totp_secret_enc=_keyring(scope).seal(totp_secret) if totp_secret else None,
        mfa_enabled=totp_secret is not None,
        totp_last_step=0,
        credentials_epoch=0,
        active=True,
        created_at=scope.clock.now(),
        system_client=system_client,
    )
    scope.session.add(user)
    if role is Role.CLINICIAN:
        scope.session.add(
            ClinicianProfile(user=user, specialties=[], video_capable=True, discipline=discipline)
        )
    scope.session.flush()
    scope.audit.record(
        Action.PRIVILEGE_CHANGE, "user", user.id, detail={"role": role.value, "event": "created"}
    )
    return NewUser(user=user, totp_secret=totp_secret)


def create_patient(
    scope: Scope,
    *,
    org_id: uuid.UUID,
    given_name: str,
    family_name: str,
    birth_date: date,
    home_state: str,
    phone: str | None = None,
    user_id: uuid.UUID | None = None,
    sex: AdministrativeSex | None = None,
) -> Patient:
    now = scope.clock.now()
    patient = Patient(
        org_id=org_id,
        user_id=user_id,
        given_name=given_name,
        family_name=family_name,
        birth_date=birth_date,
        home_state=check_state(home_state, "home_state"),
        phone=phone,
        sex=None if sex is None else sex.value,
        version=1,
        created_at=now,
        updated_at=now,
    )
    scope.session.add(patient)
    scope.session.flush()
    scope.audit.record(Action.CREATE, "patient", patient.id, patient_id=patient.id)
    return patient


def assign_care(
    scope: Scope,
    clinician_id: uuid.UUID,
    patient_id: uuid.UUID,
    *,
    source: CareSource,
    granted_by: uuid.UUID | None,
    ends_at: datetime | None = None,
) -> CareAssignment:
    """Records the membership; whether the actor may extend the care team is decided by
    ``access.service.extend_care``, the way every caller reaches this. A membership that has
    ended starts again, from its new source; a lasting one keeps its source and takes a new
    end only when one is given."""
    now = scope.clock.now()
    assignment = queries.care_assignment(scope.session, clinician_id, patient_id)
    if assignment is not None and (assignment.ends_at is None or assignment.ends_at > now):
        if ends_at is not None and ends_at != assignment.ends_at:
            _set_care_end(scope, assignment, ends_at)
        return assignment
    if assignment is None:
        assignment = CareAssignment(clinician_id=clinician_id, patient_id=patient_id)
        scope.session.add(assignment)
    assignment.created_at = now
    assignment.source = source.value
    assignment.granted_by = granted_by
    assignment.ends_at = ends_at
    scope.session.flush()
    scope.audit.record(
        Action.CREATE,
        "care_assignment",
        assignment.id,
        patient_id=patient_id,
        detail={"clinician_id": str(clinician_id), "source": source.value},
    )
    return assignment


def end_care(scope: Scope, assignment: CareAssignment) -> None:
    """Ends a lasting membership now."""
    _set_care_end(scope, assignment, scope.clock.now())


def _set_care_end(scope: Scope, assignment: CareAssignment, ends_at: datetime) -> None:
    assignment.ends_at = ends_at
    scope.audit.record(
        Action.UPDATE,
        "care_assignment",
        assignment.id,
        patient_id=assignment.patient_id,
        detail={"clinician_id": str(assignment.clinician_id), "ends_at": ends_at.isoformat()},
    )


# --- clinician credentials ------------------------------------------------------------------


class Keep(Enum):
    """An argument left out: the stored value stays (None would clear it)."""

    KEEP = "keep"


def set_clinician_profile(
    scope: Scope,
    clinician_id: uuid.UUID,
    *,
    specialties: list[str] | None = None,
    video_capable: bool | None = None,
    npi: str | None = None,
    languages: list[str] | None = None,
    discipline: Discipline | Keep | None = Keep.KEEP,
) -> ClinicianProfile:
    """Changes what is given; ``discipline=None`` clears it (not recorded)."""
    profile = _profile(scope.session, clinician_id)
    if discipline is not Keep.KEEP:
        profile.discipline = discipline
    if languages is not None:
        profile.languages = list(dict.fromkeys(s.strip().lower() for s in languages if s.strip()))
    if specialties is not None:
        profile.specialties = sorted({s.strip().lower() for s in specialties if s.strip()})
    if video_capable is not None:
        profile.video_capable = video_capable
    if npi is not None:
        profile.npi = npi
    if languages is not None:
        unknown = sorted(set(languages) - set(LANGUAGE_NAMES))
        if unknown or not languages:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "choose one or more languages", field="languages"
            )
        profile.languages = [tag for tag in LANGUAGE_NAMES if tag in languages]
    scope.audit.record(Action.UPDATE, "clinician_profile", clinician_id)
    return profile


def add_license(
    scope: Scope,
    clinician_id: uuid.UUID,
    *,
    state: str,
    kind: LicenseKind,
    number: str,
    expires_on: date | None,
) -> License:
    _profile(scope.session, clinician_id)
    license_ = License(
        clinician_id=clinician_id,
        state=check_state(state, "state"),
        kind=kind.value,
        number=number,
        expires_on=expires_on,
    )
    scope.session.add(license_)
    _flush_unique(scope.session, "that license is already recorded")
    scope.audit.record(Action.CREATE, "license", license_.id, detail={"state": license_.state})
    return license_


def add_compact(
    scope: Scope, clinician_id: uuid.UUID, *, compact: str, principal_state: str
) -> CompactMembership:
    _profile(scope.session, clinician_id)
    membership = CompactMembership(
        clinician_id=clinician_id,
        compact=compact.upper(),
        principal_state=check_state(principal_state, "principal_state"),
    )
    scope.session.add(membership)
    _flush_unique(scope.session, "that compact membership is already recorded")
    scope.audit.record(Action.CREATE, "compact_membership", membership.id)
    return membership


def add_dea_registration(
    scope: Scope,
    clinician_id: uuid.UUID,
    *,
    state: str,
    number: str,
    schedules: list[str],
    expires_on: date | None,
) -> DeaRegistration:
    _profile(scope.session, clinician_id)
    unknown = sorted(set(schedules) - set(CONTROLLED_SCHEDULES))
    if unknown or not schedules:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"schedules must be among {', '.join(CONTROLLED_SCHEDULES)}",
            field="schedules",
        )
    registration = DeaRegistration(
        clinician_id=clinician_id,
        state=check_state(state, "state"),
        number=number,
        schedules=[s for s in CONTROLLED_SCHEDULES if s in schedules],
        expires_on=expires_on,
    )
    scope.session.add(registration)
    _flush_unique(scope.session, "a DEA registration for that state is already recorded")
    scope.audit.record(Action.CREATE, "dea_registration", registration.id)
    return registration


def specialties_of(scope: Scope, clinician_id: uuid.UUID) -> list[str]:
    """The specialties a clinician's profile lists (none for a user without a profile)."""
    profile = queries.clinician_profile(scope.session, clinician_id)
    return list(profile.specialties) if profile else []


def signers(
    scope: Scope, user_ids: Iterable[uuid.UUID], prefer: str | None = None
) -> dict[uuid.UUID, Signer]:
    """The people who signed documents, by id, as the documents name them: their name and the
    specialty they signed in (``prefer``, a case's specialty, when they hold it)."""
    return {
        user_id: Signer(user_id, name, signing_specialty(list(specialties or []), prefer))
        for user_id, name, specialties in repository.names_and_specialties(
            scope.session, set(user_ids)
        )
    }


def _profile(session: Session, clinician_id: uuid.UUID) -> ClinicianProfile:
    profile = queries.clinician_profile(session, clinician_id)
    if profile is None:
        raise DomainError(ErrorCode.NOT_FOUND, "clinician not found")
    return profile


def _flush_unique(session: Session, message: str) -> None:
    from sqlalchemy.exc import IntegrityError

    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise DomainError(ErrorCode.ALREADY_EXISTS, message) from exc


def retire_system_client(scope: Scope, user_id: uuid.UUID) -> None:
    """Closes a revoked system client's service account: its tokens stop working at once."""
    user = queries.user_by_id(scope.session, user_id)
    if user is None or not user.system_client:
        raise DomainError(ErrorCode.NOT_FOUND, "user not found")
    if user.active:
        user.active = False
        user.credentials_epoch += 1
        scope.audit.record(
            Action.PRIVILEGE_CHANGE, "user", user.id, detail={"event": "deactivated"}
        )


def change_role(scope: Scope, user_id: uuid.UUID, role: Role) -> User:
    user = queries.user_by_id(scope.session, user_id)
    actor = scope.require_actor()
    if user is None or user.org_id != actor.org_id:
        raise DomainError(ErrorCode.NOT_FOUND, "user not found")
    previous = user.role
    user.role = role.value
    user.credentials_epoch += 1
    if role in MFA_REQUIRED_ROLES and user.totp_secret_enc is None:
        # The new role needs MFA: the user must enroll again before any PHI access.
        user.mfa_enabled = False
    scope.audit.record(
        Action.PRIVILEGE_CHANGE, "user", user.id, detail={"from": previous, "to": role.value}
    )
    return user


# --- login, sessions, tokens ----------------------------------------------------------------


@dataclass(frozen=True)
class IssuedSecret:
    id: uuid.UUID
    secret: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ThrottleKey:
    """A counter's keys: under the current app secret first, then (during a rotation) under
    each previous one. Failures are counted under the current key; a wait recorded under any
    holds."""

    kind: str
    every: tuple[bytes, ...]
    backoff: Backoff

    @property
    def key(self) -> bytes:
        return self.every[0]


@dataclass(frozen=True, slots=True)
class SignInThrottles:
    source: ThrottleKey
    account: ThrottleKey

    @property
    def each(self) -> tuple[ThrottleKey, ThrottleKey]:
        return (self.source, self.account)


def sign_in_throttles(scope: Scope, email: str, source: str) -> SignInThrottles:
    """The counters an attempt for ``email`` from ``source`` is held to. The email's key is the
    same whether or not an account has it, so the throttle tells no one which exist."""
    settings = scope.settings
    base = settings.login_delay_base_seconds
    window = timedelta(seconds=settings.login_failure_window_seconds)
    return SignInThrottles(
        ThrottleKey(
            "source",
            _throttle_keys(scope, "source", source),
            Backoff(
                settings.login_source_free_failures,
                base,
                settings.login_source_max_delay_seconds,
                window,
            ),
        ),
        ThrottleKey(
            "account",
            _throttle_keys(scope, "account", email.strip().lower()),
            Backoff(
                settings.login_account_free_failures,
                base,
                settings.login_account_max_delay_seconds,
                window,
            ),
        ),
    )


def _throttle_keys(scope: Scope, kind: str, value: str) -> tuple[bytes, ...]:
    # Keyed, so the table holds neither addresses nor emails, nor lets them be guessed back;
    # under each app secret, the current one's first.
    return _keyring(scope).macs(f"login-throttle:{kind}:{value}".encode())


def _refuse_while_throttled(scope: Scope, throttles: SignInThrottles, user: User | None) -> None:
    """Refuses an attempt, without checking its password, while a counter makes it wait."""
    now = scope.clock.now()
    until = repository.throttled_until(scope.session, [k for t in throttles.each for k in t.every])
    if until is None or ensure_utc(until) <= now:
        return
    _record_failure(scope, user, "throttled")
    raise DomainError(
        ErrorCode.RATE_LIMITED,
        "too many failed attempts; wait a moment and try again",
        retry_after=math.ceil((ensure_utc(until) - now).total_seconds()),
    )


def login(
    scope: Scope, email: str, password: str, totp_code: str | None, *, source: str
) -> IssuedSecret:
    now = scope.clock.now()
    throttles = sign_in_throttles(scope, email, source)
    user = repository.user_by_email(scope.session, email)
    _refuse_while_throttled(scope, throttles, user)
    # Verified even for an unknown email (against a dummy hash), so both take the same time.
    password_ok = credentials.verify_password(user.password_hash if user else None, password)
    if user is None or not user.active:
        _login_failed(scope, None, "unknown_or_inactive", throttles)
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "email or password is incorrect")
    if not password_ok:
        _login_failed(scope, user, "bad_password", throttles)
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "email or password is incorrect")
    mfa_verified = _check_second_factor(scope, user, totp_code, now, throttles)
    # The person proved both factors: earlier failures against their address are forgotten;
    # the source's are not, as others may share it.
    repository.forget_failures(scope.session, throttles.account.every)
    token, token_hash = credentials.new_secret(SESSION_PREFIX)
    login_session = LoginSession(
        user_id=user.id,
        token_hash=token_hash,
        mfa_verified=mfa_verified,
        credentials_epoch=user.credentials_epoch,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=scope.settings.session_absolute_hours),
    )
    scope.session.add(login_session)
    scope.session.flush()
    scope.audit.record(
        Action.LOGIN,
        "session",
        login_session.id,
        actor_id=user.id,
        actor_role=user.role,
        org_id=user.org_id,
        detail={"mfa": mfa_verified},
    )
    return IssuedSecret(login_session.id, token, login_session.expires_at)


def _check_second_factor(
    scope: Scope, user: User, code: str | None, now: datetime, throttles: SignInThrottles
) -> bool:
    if not user.mfa_enabled or user.totp_secret_enc is None:
        if Role(user.role) in MFA_REQUIRED_ROLES:
            _login_failed(scope, user, "mfa_not_enrolled", throttles)
            raise DomainError(ErrorCode.MFA_REQUIRED, "this role requires MFA enrollment")
        return False
    if not code:
        # The password was right: not a failed attempt, but no session without the second factor.
        raise DomainError(ErrorCode.MFA_REQUIRED, "a one-time code is required")
    secret = _totp_secret(scope, user, user.totp_secret_enc)
    step = credentials.accepted_totp_step(secret, code, now, user.totp_last_step)
    if step is None:
        _login_failed(scope, user, "bad_totp", throttles)
        raise DomainError(ErrorCode.MFA_INVALID, "the one-time code is not valid")
    user.totp_last_step = step
    return True


def _record_failure(scope: Scope, user: User | None, reason: str) -> None:
    scope.audit.record(
        Action.LOGIN,
        "session",
        None,
        outcome=Outcome.FAILURE,
        actor_id=user.id if user else None,
        actor_role=user.role if user else None,
        org_id=user.org_id if user else None,
        detail={"reason": reason},
        durable=True,
    )


def _login_failed(scope: Scope, user: User | None, reason: str, throttles: SignInThrottles) -> None:
    _record_failure(scope, user, reason)
    count_failure(scope, throttles)


def count_failure(scope: Scope, throttles: SignInThrottles) -> None:
    """Counts a failed attempt against each of its counters, for every attempt alike."""
    now = scope.clock.now()

    def count(session: Session) -> None:
        # Runs after the request's rollback, so the count survives the error response.
        for throttle in throttles.each:
            repository.count_failure(session, throttle.key, throttle.kind, throttle.backoff, now)

    scope.uow.after_rollback(count)


def resolve_session(scope: Scope, token: str) -> Actor:
    now = scope.clock.now()
    found = repository.credential_with_user(scope.session, LoginSession, credentials.digest(token))
    if found is None:
        raise DomainError(ErrorCode.NOT_AUTHENTICATED, "authentication required")
    login_session, user, patient_id = found
    assert isinstance(login_session, LoginSession)
    if not _credential_current(login_session, user):
        raise DomainError(ErrorCode.NOT_AUTHENTICATED, "authentication required")
    idle = timedelta(minutes=scope.settings.idle_minutes_for(user.role))
    if (
        now >= ensure_utc(login_session.expires_at)
        or now >= ensure_utc(login_session.last_seen_at) + idle
    ):
        raise DomainError(ErrorCode.SESSION_EXPIRED, "the session has expired; sign in again")
    login_session.last_seen_at = now
    return _actor(
        user, patient_id, login_session.mfa_verified, CredentialKind.SESSION, login_session.id
    )


def resolve_token(scope: Scope, token: str) -> Actor:
    now = scope.clock.now()
    found = repository.credential_with_user(scope.session, ApiToken, credentials.digest(token))
    if found is None:
        raise DomainError(ErrorCode.TOKEN_INVALID, "the token is invalid or expired")
    api_token, user, patient_id = found
    assert isinstance(api_token, ApiToken)
    if not _credential_current(api_token, user) or now >= ensure_utc(api_token.expires_at):
        raise DomainError(ErrorCode.TOKEN_INVALID, "the token is invalid or expired")
    kind = CredentialKind.CLIENT if user.system_client else CredentialKind.TOKEN
    return _actor(
        user, patient_id, api_token.mfa_verified, kind, api_token.id, scopes=api_token.scopes
    )


def _credential_current(credential: ApiToken | LoginSession, user: User) -> bool:
    return credential_current(
        revoked=credential.revoked_at is not None,
        user_active=user.active,
        user_epoch=user.credentials_epoch,
        credential_epoch=credential.credentials_epoch,
    )


def _actor(
    user: User,
    patient_id: uuid.UUID | None,
    mfa: bool,
    kind: CredentialKind,
    credential_id: uuid.UUID,
    *,
    scopes: str | None = None,
) -> Actor:
    return Actor.of(
        user_id=user.id,
        role=Role(user.role),
        org_id=user.org_id,
        patient_id=patient_id,
        mfa_verified=mfa,
        credential=kind,
        credential_id=credential_id,
        scopes=scopes,
    )


def system_actor_for(scope: Scope, user: User) -> Actor:
    """The actor for operator commands run on the server itself (trusted like MFA)."""
    patient_id = repository.patient_id_of_user(scope.session, user.id)
    return _actor(user, patient_id, True, CredentialKind.SYSTEM, user.id)


def logout(scope: Scope) -> None:
    actor = scope.require_actor()
    if actor.credential is CredentialKind.SESSION and actor.credential_id is not None:
        found = scope.session.get(LoginSession, actor.credential_id)
        if found is not None:
            found.revoked_at = scope.clock.now()
    scope.audit.record(Action.LOGOUT, "session", actor.credential_id)


def issue_token(
    scope: Scope,
    user: User,
    *,
    label: str,
    minutes: int | None,
    mfa_verified: bool,
    scopes: str | None = None,
) -> IssuedSecret:
    """A bearer token for ``user``; ``scopes``: the SMART scopes it is limited to (checked by
    the caller against the grammar, :func:`telehealth.fhir.smart.checked_scopes`)."""
    now = scope.clock.now()
    ttl = min(minutes or scope.settings.api_token_minutes, scope.settings.api_token_minutes)
    token, token_hash = credentials.new_secret(TOKEN_PREFIX)
    record = ApiToken(
        user_id=user.id,
        token_hash=token_hash,
        label=label[:100],
        mfa_verified=mfa_verified,
        credentials_epoch=user.credentials_epoch,
        created_at=now,
        expires_at=now + timedelta(minutes=ttl),
        scopes=scopes,
    )
    scope.session.add(record)
    scope.session.flush()
    scope.audit.record(
        Action.TOKEN_ISSUE,
        "api_token",
        record.id,
        actor_id=user.id,
        actor_role=user.role,
        org_id=user.org_id,
    )
    return IssuedSecret(record.id, token, record.expires_at)


def revoke_token(scope: Scope, token_id: uuid.UUID) -> None:
    actor = scope.require_actor()
    record = scope.session.get(ApiToken, token_id)
    if record is None or record.user_id != actor.user_id:
        raise DomainError(ErrorCode.NOT_FOUND, "token not found")
    if record.revoked_at is None:
        record.revoked_at = scope.clock.now()
    scope.audit.record(Action.TOKEN_REVOKE, "api_token", record.id)


def change_password(scope: Scope, current: str, new: str, *, source: str) -> None:
    """A wrong current password counts like a failed sign-in: a stolen session must not
    become a way to guess the password."""
    actor = scope.require_actor()
    user = queries.user_by_id(scope.session, actor.user_id)
    assert user is not None
    throttles = sign_in_throttles(scope, user.email, source)
    _refuse_while_throttled(scope, throttles, user)
    if not credentials.verify_password(user.password_hash, current):
        _login_failed(scope, user, "bad_current_password", throttles)
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "the current password is incorrect")
    user.password_hash = credentials.hash_password(new)
    user.credentials_epoch += 1
    repository.revoke_credentials_of(scope.session, user.id, scope.clock.now())
    scope.audit.record(Action.UPDATE, "credentials", user.id, detail={"event": "password"})


def set_time_zone(scope: Scope, time_zone: str | None) -> User:
    """The zone the actor reads times in (None: their browser's)."""
    actor = scope.require_actor()
    user = queries.user_by_id(scope.session, actor.user_id)
    if user is None:
        raise not_found("user")
    user.time_zone = check_time_zone(time_zone) if time_zone else None
    scope.audit.record(Action.UPDATE, "user", user.id, detail={"event": "time_zone"})
    return user


def start_mfa_enrollment(scope: Scope) -> str:
    """Returns a provisioning URI; MFA is enabled once a code from it is confirmed."""
    actor = scope.require_actor()
    user = queries.user_by_id(scope.session, actor.user_id)
    assert user is not None
    if user.mfa_enabled:
        raise DomainError(ErrorCode.CONFLICT, "MFA is already enabled")
    secret = credentials.new_totp_secret()
    user.totp_secret_enc = _keyring(scope).seal(secret)
    scope.audit.record(Action.UPDATE, "credentials", user.id, detail={"event": "mfa_started"})
    return credentials.totp_uri(secret, user.email)


def confirm_mfa_enrollment(scope: Scope, code: str) -> None:
    actor = scope.require_actor()
    user = queries.user_by_id(scope.session, actor.user_id)
    assert user is not None
    if user.totp_secret_enc is None or user.mfa_enabled:
        raise DomainError(ErrorCode.INVALID_STATE, "no MFA enrollment is in progress")
    secret = _totp_secret(scope, user, user.totp_secret_enc)
    step = credentials.accepted_totp_step(secret, code, scope.clock.now(), user.totp_last_step)
    if step is None:
        raise DomainError(ErrorCode.MFA_INVALID, "the one-time code is not valid")
    user.totp_last_step = step
    user.mfa_enabled = True
    scope.audit.record(Action.UPDATE, "credentials", user.id, detail={"event": "mfa_enabled"})


# --- invites --------------------------------------------------------------------------------


def create_invite(scope: Scope, user_id: uuid.UUID) -> IssuedSecret:
    actor = scope.require_actor()
    user = queries.user_by_id(scope.session, user_id)
    if user is None or user.org_id != actor.org_id:
        raise DomainError(ErrorCode.NOT_FOUND, "user not found")
    if user.system_client:
        raise DomainError(ErrorCode.CONFLICT, "a system client's account takes no invite")
    now = scope.clock.now()
    token, token_hash = credentials.new_secret(INVITE_PREFIX)
    invite = Invite(
        org_id=user.org_id,
        user_id=user.id,
        token_hash=token_hash,
        created_by=actor.user_id,
        created_at=now,
        expires_at=now + timedelta(hours=scope.settings.invite_hours),
    )
    scope.session.add(invite)
    scope.session.flush()
    scope.audit.record(Action.CREATE, "invite", invite.id, detail={"for_user": str(user.id)})
    return IssuedSecret(invite.id, token, invite.expires_at)


def accept_invite(scope: Scope, token: str, password: str) -> NewUser:
    """Sets the invited user's password; single use. MFA roles get their TOTP secret here."""
    now = scope.clock.now()
    invite = repository.invite_by_digest(scope.session, credentials.digest(token))
    if invite is None or invite.used_at is not None or now >= ensure_utc(invite.expires_at):
        raise DomainError(ErrorCode.TOKEN_INVALID, "the invite link is invalid or has expired")
    user = queries.user_by_id(scope.session, invite.user_id)
    assert user is not None
    invite.used_at = now
    user.password_hash = credentials.hash_password(password)
    user.credentials_epoch += 1
    secret: str | None = None
    if Role(user.role) in MFA_REQUIRED_ROLES:
        secret = credentials.new_totp_secret()
        user.totp_secret_enc = _keyring(scope).seal(secret)
        user.mfa_enabled = True
    scope.audit.record(
        Action.UPDATE,
        "credentials",
        user.id,
        actor_id=user.id,
        actor_role=user.role,
        org_id=user.org_id,
        detail={"event": "invite_accepted"},
    )
    return NewUser(user=user, totp_secret=secret)
