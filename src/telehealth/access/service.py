"""Object-level access: the loaders every route uses to reach a patient-scoped object."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Select, false, func, or_, select

from telehealth.access import policy, repository, rules
from telehealth.access.queries import reached_by
from telehealth.access.tables import BreakGlassGrant
from telehealth.audit.model import Action, Outcome
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.identity import queries as identity_queries
from telehealth.identity import service as identity
from telehealth.identity.model import Actor, CareSource, PatientBanner, Role
from telehealth.identity.queries import Patient
from telehealth.scope import Scope

if TYPE_CHECKING:
    from telehealth.identity.tables import CareAssignment, ClinicianProfile, Organization, User


def patient_record(scope: Scope, patient_id: uuid.UUID) -> Patient | None:
    """The patient's row, read once per unit of work: the loaders of a visit, a case and an
    enrollment of the same patient all need it."""
    key = ("patient_record", patient_id)
    known: Patient | None = scope.memo.get(key)
    # A row kept from before a rollback has left the session and is read again.
    if known is not None and known in scope.session:
        return known
    patient = identity_queries.patient_by_id(scope.session, patient_id)
    if patient is not None:
        scope.memo[key] = patient
    return patient


def patient_banner(scope: Scope, patient_id: uuid.UUID) -> PatientBanner:
    """Who the patient of an object is, for the banner at the top of a staff page. The caller
    has reached the object through its loader (which decided access and read this same row)
    and audited that read; the banner is part of it, so it reads nothing new."""
    patient = patient_record(scope, patient_id)
    if patient is None:
        raise not_found("patient")
    return PatientBanner.of(patient, scope.clock.now().date())


def listed_patients(
    scope: Scope, patient_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, PatientBanner]:
    """Who the patients of listed objects are, for the rows of a staff list. The caller listed
    the objects through their service, which decided access and audited each row with its
    patient; the names are part of those reads, so this reads nothing new."""
    today = scope.clock.now().date()
    return {
        p.id: PatientBanner.of(p, today)
        for p in identity_queries.patients_by_ids(scope.session, patient_ids)
    }


def facts_about(scope: Scope, actor: Actor, patient_id: uuid.UUID) -> policy.PatientFacts | None:
    """The facts about a patient that decide the actor's access; None for a missing patient."""
    known: policy.PatientFacts | None = scope.memo.get(_facts_key(actor, patient_id))
    if known is not None:
        return known
    patient = patient_record(scope, patient_id)
    return patient_facts(scope, actor, patient) if patient is not None else None


def _facts_key(actor: Actor, patient_id: uuid.UUID) -> tuple[str, uuid.UUID, uuid.UUID]:
    return ("patient_facts", actor.user_id, patient_id)


def patient_facts(scope: Scope, actor: Actor, patient: Patient) -> policy.PatientFacts:
    key = _facts_key(actor, patient.id)
    known: policy.PatientFacts | None = scope.memo.get(key)
    if known is not None:
        return known
    in_care = False
    glass = False
    if actor.role is Role.CLINICIAN:
        in_care, glass = repository.clinician_relation(
            scope.session, actor.user_id, patient.id, scope.clock.now()
        )
    facts = policy.PatientFacts.of(patient.id, patient.org_id, in_care=in_care, grant=glass)
    # Access only widens within a request (a grant or assignment may be added), so only facts
    # that already allow reading are kept; a clinician without either is asked again.
    if actor.role is not Role.CLINICIAN or in_care or glass:
        scope.memo[key] = facts
    return facts


def record_denial(
    scope: Scope,
    kind: str,
    object_id: object | None,
    patient_id: uuid.UUID | None = None,
    *,
    patient_org_id: uuid.UUID | None = None,
) -> None:
    """Audits a refused or missing object; the record survives the request's rollback.

    The row lands in the actor's organization's log, so it names the patient only when the
    patient (of organization ``patient_org_id``) belongs to that organization: another
    organization's patient id would link the two tenants, and a field that is set for an
    object of another organization but empty for an id that does not exist would tell a
    prober which of their guesses exist.
    """
    actor = scope.actor
    same_org = actor is not None and patient_org_id is not None and patient_org_id == actor.org_id
    scope.audit.record(
        Action.ACCESS_DENIED,
        kind,
        object_id,
        outcome=Outcome.DENIED,
        patient_id=patient_id if same_org else None,
        durable=True,
    )


def readable_patient(scope: Scope, patient_id: uuid.UUID) -> Patient:
    patient = patient_if_readable(scope, patient_id)
    if patient is None:
        record_denial(scope, "patient", patient_id, None)
        raise not_found("patient")
    return patient


def patient_if_readable(scope: Scope, patient_id: uuid.UUID) -> Patient | None:
    """The patient if the actor may read them (break-glass use is audited), else None -- for
    loaders of an object that belongs to a patient, which report a hidden patient as their own
    object not found, exactly like a missing one."""
    actor = scope.require_actor()
    key = ("readable_patient", actor.user_id, patient_id)
    known: Patient | None = scope.memo.get(key)
    if known is not None:
        return known
    patient = patient_record(scope, patient_id)
    if patient is None:
        return None
    facts = patient_facts(scope, actor, patient)
    decided = rules.patient(actor, rules.ObjectFacts(patient.org_id, facts))
    if not decided.allowed:
        return None
    if decided.recorded is rules.Recorded.BREAK_GLASS:
        scope.audit.record(
            Action.BREAK_GLASS, "patient", patient.id, patient_id=patient.id, detail={"use": "read"}
        )
    scope.memo[key] = patient
    return patient


def writable_patient(scope: Scope, patient_id: uuid.UUID) -> Patient:
    """A patient the actor may update. One they may not read is not found; one they may read
    but not update (an administrator) is no secret to them, so that is a refusal."""
    patient = readable_patient(scope, patient_id)
    actor = scope.require_actor()
    if not policy.may_update_patient(actor, patient_facts(scope, actor, patient)):
        record_denial(scope, "patient", patient.id, patient.id, patient_org_id=patient.org_id)
        raise DomainError(ErrorCode.FORBIDDEN, "this role does not update patient records")
    return patient


def require_standing_relationship(scope: Scope, patient: Patient, action: str) -> None:
    """Refuses ``action`` unless the actor has a standing relationship with the patient
    (:func:`policy.may_start_care`): the patient, who is readable, is not hidden, so this is a
    refusal, not a not-found."""
    actor = scope.require_actor()
    if not policy.may_start_care(actor, patient_facts(scope, actor, patient)):
        record_denial(scope, "patient", patient.id, patient.id, patient_org_id=patient.org_id)
        raise DomainError(
            ErrorCode.FORBIDDEN,
            f"{action} needs a standing relationship with the patient; "
            "emergency access does not give one",
        )


def extend_care(
    scope: Scope,
    patient: Patient,
    clinician_id: uuid.UUID,
    source: CareSource,
    *,
    ends_at: datetime | None = None,
) -> CareAssignment:
    """Puts a clinician (of the patient's organization) on the patient's care team, recording
    where the membership came from, who extended the team and when it ends (``ends_at``, None
    while it lasts). Only an actor with a standing relationship with the patient
    (:func:`policy.may_start_care`) or a manager (coordinator or administrator) of the patient's
    organization may: break-glass access never makes a standing membership."""
    actor = scope.require_actor()
    if ends_at is not None and ends_at <= scope.clock.now():
        raise DomainError(ErrorCode.INVALID_INPUT, "a care-team membership must end in the future")
    if not policy.may_manage_org(actor, patient.org_id):
        require_standing_relationship(scope, patient, "extending the care team")
    clinician = readable_clinician(scope, clinician_id)
    if clinician.org_id != patient.org_id:
        record_denial(scope, "clinician", clinician_id)
        raise not_found("clinician")
    assignment = identity.assign_care(
        scope, clinician.id, patient.id, source=source, granted_by=actor.user_id, ends_at=ends_at
    )
    # The actor's facts about the patient may have widened (a clinician booking themself).
    scope.memo.pop(_facts_key(actor, patient.id), None)
    return assignment


def end_care(scope: Scope, patient: Patient, clinician_id: uuid.UUID) -> None:
    """Ends a clinician's lasting membership of the patient's care team now (a manager of the
    patient's organization; the caller has checked). Access through it ends with it; what the
    clinician's own visits, cases or enrollments name them on is not touched."""
    assignment = identity_queries.care_assignment(scope.session, clinician_id, patient.id)
    now = scope.clock.now()
    if assignment is None or (assignment.ends_at is not None and assignment.ends_at <= now):
        raise not_found("care-team member")
    identity.end_care(scope, assignment)


@dataclass(frozen=True, slots=True)
class PatientFilter:
    """Narrows a patient list (the FHIR Patient search): each field set must hold. Names match
    from their start, ignoring case; ``born`` is a half-open range of birth dates."""

    ids: Sequence[uuid.UUID] | None = None
    family: str | None = None
    given: str | None = None
    name: str | None = None
    born_from: date | None = None
    born_before: date | None = None
    sexes: Sequence[str] | None = None
    record_numbers: Sequence[str] | None = None


def _filtered(query: Select[tuple[Patient]], where: PatientFilter) -> Select[tuple[Patient]]:
    if where.ids is not None:
        query = query.where(Patient.id.in_(where.ids))
    if where.family:
        query = query.where(func.lower(Patient.family_name).startswith(where.family.lower()))
    if where.given:
        query = query.where(func.lower(Patient.given_name).startswith(where.given.lower()))
    if where.name:
        start = where.name.lower()
        query = query.where(
            or_(
                func.lower(Patient.family_name).startswith(start),
                func.lower(Patient.given_name).startswith(start),
            )
        )
    if where.born_from is not None:
        query = query.where(Patient.birth_date >= where.born_from)
    if where.born_before is not None:
        query = query.where(Patient.birth_date < where.born_before)
    if where.sexes is not None:
        # A sex not recorded is FHIR's "unknown".
        unrecorded = Patient.sex.is_(None) if "unknown" in where.sexes else false()
        query = query.where(or_(Patient.sex.in_(where.sexes), unrecorded))
    if where.record_numbers is not None:
        query = query.where(Patient.record_number.in_(where.record_numbers))
    return query


def readable_patients(
    scope: Scope, *, limit: int, offset: int, where: PatientFilter | None = None
) -> Sequence[Patient]:
    """The patients this actor may list: the same rules as :func:`readable_patient`, in SQL;
    ``where`` narrows the list."""
    actor = scope.require_actor()
    query = select(Patient) if where is None else _filtered(select(Patient), where)
    if actor.role is Role.PATIENT:
        query = query.where(Patient.id == actor.patient_id)
    elif actor.role is Role.CLINICIAN:
        query = query.where(
            Patient.org_id == actor.org_id,
            reached_by(Patient.id, actor.user_id, scope.clock.now()),
        )
    else:
        query = query.where(Patient.org_id == actor.org_id)
    query = query.order_by(Patient.family_name, Patient.given_name, Patient.id)
    return scope.session.execute(query.limit(limit).offset(offset)).scalars().all()


@dataclass(frozen=True, slots=True)
class Listed:
    """An object a list shows: its id, its patient and the users it names as working on it."""

    object_id: uuid.UUID
    patient_id: uuid.UUID | None
    named: frozenset[uuid.UUID] = frozenset()


def record_listed(scope: Scope, kind: str, listed: Sequence[Listed]) -> None:
    """Audits the objects a list shows the way the loader audits one: each a read, and break-glass
    use where only an emergency grant lets the clinician reach it (not named on it, not caring
    for its patient)."""
    actor = scope.require_actor()
    unnamed = [item for item in listed if actor.user_id not in item.named]
    glass = _reached_only_by_grant(scope, actor, {item.patient_id for item in unnamed})
    for item in unnamed:
        if item.patient_id in glass:
            scope.audit.record(
                Action.BREAK_GLASS,
                kind,
                item.object_id,
                patient_id=item.patient_id,
                detail={"use": "read", "via": "list"},
            )
    for item in listed:
        scope.audit.record(
            Action.READ, kind, item.object_id, patient_id=item.patient_id, detail={"via": "list"}
        )


def _reached_only_by_grant(
    scope: Scope, actor: Actor, patient_ids: set[uuid.UUID | None]
) -> set[uuid.UUID]:
    wanted = {p for p in patient_ids if p is not None}
    if actor.role is not Role.CLINICIAN or not wanted:
        return set()
    return repository.reached_only_by_grant(scope.session, actor.user_id, wanted, scope.clock.now())


def readable_clinician(scope: Scope, clinician_id: uuid.UUID) -> User:
    """A clinician of the actor's organization; anyone else's, or no clinician, is not found."""
    actor = scope.require_actor()
    user = identity_queries.user_by_id(scope.session, clinician_id)
    if (
        user is None
        or user.role != Role.CLINICIAN.value
        or not policy.may_see_clinician(actor, user.org_id)
    ):
        record_denial(scope, "clinician", clinician_id)
        raise not_found("clinician")
    return user


def readable_clinicians(
    scope: Scope,
    *,
    limit: int,
    offset: int,
    where: identity_queries.ClinicianFilter | None = None,
) -> Sequence[tuple[User, ClinicianProfile | None]]:
    """The clinicians the actor may read (:func:`readable_clinician`: those of their own
    organization), with their profiles, by name; ``where`` narrows the list. An NPI filter
    matches only clinicians whose credentials the actor may see (:func:`may_see_credentials`),
    so a search by NPI tells no one else whose it is."""
    actor = scope.require_actor()
    if (
        where is not None
        and where.npis is not None
        and not policy.may_manage_org(actor, actor.org_id)
    ):
        ids = [actor.user_id] if where.ids is None else [i for i in where.ids if i == actor.user_id]
        where = replace(where, ids=ids)
    return identity_queries.clinicians_of(
        scope.session, actor.org_id, where=where, limit=limit, offset=offset
    )


def readable_organization(scope: Scope, org_id: uuid.UUID) -> Organization:
    """The actor's own organization; any other, or none, is not found."""
    actor = scope.require_actor()
    org = identity_queries.organization_by_id(scope.session, org_id)
    if org is None or not policy.may_see_organization(actor, org.id):
        record_denial(scope, "organization", org_id)
        raise not_found("organization")
    return org


def may_see_credentials(scope: Scope, clinician: User) -> bool:
    return policy.may_see_credentials(scope.require_actor(), clinician.id, clinician.org_id)


def require_org_manager(scope: Scope) -> Actor:
    actor = scope.require_actor()
    if not policy.may_manage_org(actor, actor.org_id):
        scope.audit.record(
            Action.ACCESS_DENIED, "organization", actor.org_id, outcome=Outcome.DENIED, durable=True
        )
        raise DomainError(ErrorCode.FORBIDDEN, "this action needs a coordinator or administrator")
    return actor


def require_admin(scope: Scope) -> Actor:
    actor = scope.require_actor()
    if not policy.may_manage_users(actor):
        scope.audit.record(
            Action.ACCESS_DENIED, "organization", actor.org_id, outcome=Outcome.DENIED, durable=True
        )
        raise DomainError(ErrorCode.FORBIDDEN, "this action needs an administrator")
    return actor


def break_glass(scope: Scope, patient_id: uuid.UUID, reason: str) -> BreakGlassGrant:
    actor = scope.require_actor()
    if not policy.may_break_glass(actor):
        raise DomainError(ErrorCode.FORBIDDEN, "only clinicians may use emergency access")
    if len(reason.strip()) < 10:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "give a reason of at least 10 characters", field="reason"
        )
    patient = identity_queries.patient_by_id(scope.session, patient_id)
    if patient is None or patient.org_id != actor.org_id:
        record_denial(scope, "patient", patient_id, None)
        raise not_found("patient")
    now = scope.clock.now()
    grant = BreakGlassGrant(
        clinician_id=actor.user_id,
        patient_id=patient.id,
        org_id=patient.org_id,
        reason=reason.strip(),
        created_at=now,
        expires_at=now + timedelta(minutes=scope.settings.break_glass_minutes),
    )
    scope.session.add(grant)
    scope.session.flush()
    scope.audit.record(
        Action.BREAK_GLASS,
        "break_glass_grant",
        grant.id,
        patient_id=patient.id,
        detail={"use": "granted", "review_required": True},
    )
    return grant


def break_glass_grants(scope: Scope, *, unreviewed_only: bool) -> Sequence[BreakGlassGrant]:
    actor = require_admin(scope)
    return repository.grants_in_org(scope.session, actor.org_id, unreviewed_only=unreviewed_only)
