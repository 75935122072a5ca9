"""Queries over identity tables for identity's own use. What other capabilities may build on is
published in :mod:`telehealth.identity.queries`; no other module of the package builds SQL."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from telehealth.clock import ensure_utc
from telehealth.db.base import insert_ignoring_duplicates
from telehealth.identity.model import Backoff, Role
from telehealth.identity.tables import (
    ApiToken,
    CareAssignment,
    ClinicianProfile,
    CompactMembership,
    Invite,
    LoginSession,
    LoginThrottle,
    Organization,
    Patient,
    User,
)


def user_by_email(session: Session, email: str) -> User | None:
    return session.execute(
        select(User).where(func.lower(User.email) == email.lower())
    ).scalar_one_or_none()


def names_and_specialties(
    session: Session, user_ids: Collection[uuid.UUID]
) -> Sequence[tuple[uuid.UUID, str, list[str] | None]]:
    """Display name and profile specialties (``None`` without a profile) of some users."""
    if not user_ids:
        return []
    rows = session.execute(
        select(User.id, User.display_name, ClinicianProfile.specialties)
        .outerjoin(ClinicianProfile, ClinicianProfile.user_id == User.id)
        .where(User.id.in_(list(user_ids)))
    )
    return [(row[0], row[1], row[2]) for row in rows]


def users_in_org(session: Session, org_id: uuid.UUID, limit: int = 200) -> Sequence[User]:
    return (
        session.execute(select(User).where(User.org_id == org_id).order_by(User.email).limit(limit))
        .scalars()
        .all()
    )


def disciplines_in_org(session: Session, org_id: uuid.UUID) -> dict[uuid.UUID, str | None]:
    """Each clinician of the organization's recorded discipline (None: not recorded)."""
    rows = session.execute(
        select(ClinicianProfile.user_id, ClinicianProfile.discipline)
        .join(User, User.id == ClinicianProfile.user_id)
        .where(User.org_id == org_id)
    )
    return {row[0]: row[1] for row in rows}


def clinicians_in_org(session: Session, org_id: uuid.UUID, limit: int = 200) -> Sequence[User]:
    return (
        session.execute(
            select(User)
            .where(User.org_id == org_id, User.role == Role.CLINICIAN.value)
            .order_by(User.display_name, User.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )


def organization(session: Session, org_id: uuid.UUID) -> Organization | None:
    return session.get(Organization, org_id)


def organization_by_name(session: Session, name: str) -> Organization | None:
    return session.execute(
        select(Organization).where(Organization.name == name).limit(1)
    ).scalar_one_or_none()


def demo_organization(session: Session) -> Organization | None:
    return session.execute(
        select(Organization).where(Organization.is_demo.is_(True)).limit(1)
    ).scalar_one_or_none()


def credential_with_user(
    session: Session, model: type[ApiToken] | type[LoginSession], token_hash: bytes
) -> tuple[ApiToken | LoginSession, User, uuid.UUID | None] | None:
    """A token or session, its user and the user's patient id, in one round trip."""
    row = session.execute(
        select(model, User, Patient.id)
        .join(User, User.id == model.user_id)
        .outerjoin(Patient, Patient.user_id == User.id)
        .where(model.token_hash == token_hash)
    ).one_or_none()
    if row is None:
        return None
    credential, user, patient_id = row
    assert isinstance(credential, ApiToken | LoginSession)
    return credential, user, patient_id


def tokens_of(session: Session, user_id: uuid.UUID) -> Sequence[ApiToken]:
    return (
        session.execute(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at.desc())
        )
        .scalars()
        .all()
    )


def invite_by_digest(session: Session, token_hash: bytes) -> Invite | None:
    return session.execute(
        select(Invite).where(Invite.token_hash == token_hash)
    ).scalar_one_or_none()


def patient_id_of_user(session: Session, user_id: uuid.UUID) -> uuid.UUID | None:
    return session.execute(
        select(Patient.id).where(Patient.user_id == user_id)
    ).scalar_one_or_none()


def care_team_of(session: Session, patient_id: uuid.UUID) -> Sequence[tuple[CareAssignment, str]]:
    """Every membership of a patient's care team, ended ones too, oldest first, with the
    clinician's display name."""
    rows = session.execute(
        select(CareAssignment, User.display_name)
        .join(User, User.id == CareAssignment.clinician_id)
        .where(CareAssignment.patient_id == patient_id)
        .order_by(CareAssignment.created_at, CareAssignment.id)
    )
    return [(assignment, name) for assignment, name in rows]


def compacts_of(session: Session, clinician_id: uuid.UUID) -> Sequence[CompactMembership]:
    return (
        session.execute(
            select(CompactMembership).where(CompactMembership.clinician_id == clinician_id)
        )
        .scalars()
        .all()
    )


def revoke_credentials_of(session: Session, user_id: uuid.UUID, at: object) -> None:
    session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )


# --- sealed secrets ---------------------------------------------------------------------------


def sealed_secrets(
    session: Session, after: uuid.UUID | None, limit: int
) -> Sequence[tuple[uuid.UUID, bytes]]:
    """Up to ``limit`` users holding a sealed TOTP seed, by id after ``after``: (id, sealed)."""
    query = select(User.id, User.totp_secret_enc).where(User.totp_secret_enc.is_not(None))
    if after is not None:
        query = query.where(User.id > after)
    rows = session.execute(query.order_by(User.id).limit(limit)).all()
    return [(user_id, sealed) for user_id, sealed in rows if sealed is not None]


def replace_sealed_secret(session: Session, user_id: uuid.UUID, old: bytes, new: bytes) -> bool:
    """Puts ``new`` in place of ``old`` unless the user's seed changed meanwhile (a new
    enrolment, sealed under the current key already); whether it did."""
    result = session.execute(
        update(User)
        .where(User.id == user_id, User.totp_secret_enc == old)
        .values(totp_secret_enc=new)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


# --- sign-in throttles ------------------------------------------------------------------------


def throttled_until(session: Session, keys: Sequence[bytes]) -> datetime | None:
    """The latest time any of ``keys`` must wait for, if one has a wait recorded."""
    found: datetime | None = session.execute(
        select(func.max(LoginThrottle.blocked_until)).where(LoginThrottle.key.in_(keys))
    ).scalar_one()
    return found


def count_failure(session: Session, key: bytes, kind: str, backoff: Backoff, now: datetime) -> None:
    """One more failure for ``key``; concurrent failures (from any server) are each counted,
    as the row is locked between reading and writing its count."""
    session.execute(
        insert_ignoring_duplicates(session, LoginThrottle, ["key"]),
        [{"key": key, "kind": kind, "failures": 0, "last_failure_at": now}],
    )
    row = session.execute(
        select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
    ).scalar_one()
    failures = backoff.failures_after(row.failures, ensure_utc(row.last_failure_at), now)
    delay = backoff.delay(failures)
    row.failures = failures
    row.last_failure_at = now
    row.blocked_until = now + delay if delay else None
    session.flush()


def forget_failures(session: Session, keys: Collection[bytes]) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))


def purge_throttles(session: Session, older_than: datetime) -> int:
    """Drops the counts of keys whose last failure is older than ``older_than`` and who no
    longer wait; returns how many."""
    result = session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failure_at < older_than,
            (LoginThrottle.blocked_until.is_(None)) | (LoginThrottle.blocked_until < older_than),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
