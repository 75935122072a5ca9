"""Queries over identity tables. Nothing else in the package builds SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    Select,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from telehealth.clock import ensure_utc
from telehealth.db.base import UTCDateTime, insert_ignoring_duplicates
from telehealth.db.reader import AnySelect, keyed
from telehealth.identity.model import Backoff, Role
from telehealth.identity.tables import (
    ApiToken,
    CareAssignment,
    ClinicianProfile,
    CompactMembership,
    DeaRegistration,
    Invite,
    License,
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


def user_by_id(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def users_in_org(session: Session, org_id: uuid.UUID, limit: int = 200) -> Sequence[User]:
    return (
        session.execute(select(User).where(User.org_id == org_id).order_by(User.email).limit(limit))
        .scalars()
        .all()
    )


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


def patient_by_id(session: Session, patient_id: uuid.UUID) -> Patient | None:
    return session.get(Patient, patient_id)


def patient_id_of_user(session: Session, user_id: uuid.UUID) -> uuid.UUID | None:
    return session.execute(
        select(Patient.id).where(Patient.user_id == user_id)
    ).scalar_one_or_none()


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


def care_assignment(
    session: Session, clinician_id: uuid.UUID, patient_id: uuid.UUID
) -> CareAssignment | None:
    return session.execute(
        select(CareAssignment).where(
            CareAssignment.clinician_id == clinician_id,
            CareAssignment.patient_id == patient_id,
        )
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


def clinician_profile(session: Session, user_id: uuid.UUID) -> ClinicianProfile | None:
    return session.get(ClinicianProfile, user_id)


def licenses_of(session: Session, clinician_id: uuid.UUID) -> Sequence[License]:
    return session.execute(_LICENSES_OF, {"clinician_id": clinician_id}).scalars().all()


# Asked by every queue and scheduling check of a clinician; built once, as building a
# statement and its cache key costs more than running it.
_LICENSES_OF = (
    select(License).where(License.clinician_id == bindparam("clinician_id")).order_by(License.state)
)


def compacts_of(session: Session, clinician_id: uuid.UUID) -> Sequence[CompactMembership]:
    return (
        session.execute(
            select(CompactMembership).where(CompactMembership.clinician_id == clinician_id)
        )
        .scalars()
        .all()
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
            User.id.label("user_id"),
            User.role,
            User.org_id.label("user_org_id"),
            User.active,
            User.credentials_epoch.label("user_epoch"),
            _OWN_PATIENT.id.label("own_patient_id"),
            *columns,
        )
        .select_from(ApiToken)
        .join(User, User.id == ApiToken.user_id)
        .outerjoin(_OWN_PATIENT, _OWN_PATIENT.user_id == User.id)
        .where(ApiToken.token_hash == token_hash)
    )


BEARER_ACTOR = keyed(bearer_select, token_hash=LargeBinary())


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


def forget_failures(session: Session, key: bytes) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


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
