"""The visit loaders: every signed-in reach of a visit goes through
:mod:`telehealth.access.loader`. Whoever may not read the visit gets the answer for a missing
one; an action's own rule then decides what a reader may do with it (403 otherwise). Each read
of a visit (PHI: who sees whom, when, about what) is audited."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from telehealth.access import loader, rules
from telehealth.access import service as access
from telehealth.audit.model import Action
from telehealth.identity.model import Role
from telehealth.scope import Scope
from telehealth.visits import model, repository
from telehealth.visits.tables import Consent, Visit


def _visit(session: Session, visit_id: uuid.UUID, lock: bool) -> Visit | None:
    return repository.visit_by_id(session, visit_id, lock=lock)


def visit_row(session: Session, visit_id: uuid.UUID) -> Visit | None:
    """A visit's row for the loader of an object reached through its visit (the portal's
    intake), which decides on it by :func:`visit_subject` and the visit's rule."""
    return _visit(session, visit_id, False)


def visit_subject(visit: Visit) -> loader.Subject:
    return loader.Subject(visit.org_id, visit.patient_id, frozenset({visit.clinician_id}))


VISIT = loader.register(loader.Kind("visit", "visit", _visit, visit_subject))


def _consent(session: Session, consent_id: uuid.UUID, _lock: bool) -> tuple[Consent, Visit] | None:
    return repository.consent_by_id(session, consent_id)


def _of_visit(found: tuple[Consent, Visit]) -> loader.Subject:
    return visit_subject(found[1])


# A consent is its visit's: whoever may read the visit reads the consents taken in it.
VISIT_CONSENT = loader.register(loader.Kind("visit_consent", "consent", _consent, _of_visit))


def readable_visit(scope: Scope, visit_id: uuid.UUID) -> Visit:
    visit = loader.load(scope, VISIT, visit_id)
    scope.audit.record(Action.READ, "visit", visit.id, patient_id=visit.patient_id)
    return visit


def writable_visit(scope: Scope, visit_id: uuid.UUID, *, lock: bool = False) -> Visit:
    """A visit whose booking the actor may change (cancel, reschedule)."""
    return loader.load(scope, VISIT, visit_id, lock=lock, action=rules.change_visit)


def clinician_visit(scope: Scope, visit_id: uuid.UUID, *, lock: bool = False) -> Visit:
    """A visit the acting clinician conducts (notes, ending)."""
    return loader.load(scope, VISIT, visit_id, lock=lock, action=rules.conduct_visit)


def conducts(scope: Scope, visit: Visit) -> bool:
    """Whether the actor conducts the visit (so the visit record shows them the note and
    billing forms)."""
    return loader.verdict(scope, visit_subject(visit), rules.conduct_visit).allowed


def may_change(scope: Scope, visit: Visit) -> bool:
    """Whether the actor may cancel or reschedule the visit (so its page offers them)."""
    return loader.verdict(scope, visit_subject(visit), rules.change_visit).allowed


def patients_own_visit(scope: Scope, visit_id: uuid.UUID) -> Visit:
    """A visit of the acting patient's own (the pre-visit intake they fill in)."""
    return loader.load(
        scope,
        VISIT,
        visit_id,
        action=rules.own_record,
        refusal="only the patient fills in the pre-visit intake",
    )


def joinable_visit(scope: Scope, visit_id: uuid.UUID) -> Visit:
    """A visit the actor takes part in as its patient or clinician (their own join link)."""
    return loader.load(scope, VISIT, visit_id, action=rules.join_visit)


def readable_visits(
    scope: Scope,
    *,
    limit: int,
    offset: int,
    status: str | None = None,
    where: model.VisitFilter | None = None,
    record: bool = True,
) -> Sequence[Visit]:
    """The visits this actor may list: the same rules as :func:`readable_visit`, in SQL;
    ``where`` narrows the list. Audited as a list unless ``record`` is off, for a caller that
    audits what it shows itself (the FHIR API)."""
    actor = scope.require_actor()
    session = scope.session
    if actor.role is Role.PATIENT:
        visits = repository.visits_of_patient(
            session, actor.patient_id, status, limit, offset, where
        )
    elif actor.role is Role.CLINICIAN:
        visits = repository.visits_of_clinician(
            session,
            actor.org_id,
            actor.user_id,
            status,
            limit,
            offset,
            now=scope.clock.now(),
            where=where,
        )
    else:
        visits = repository.visits_of_org(session, actor.org_id, status, limit, offset, where)
    if record:
        access.record_listed(
            scope,
            "visit",
            [access.Listed(v.id, v.patient_id, frozenset({v.clinician_id})) for v in visits],
        )
    return visits


# Visits still ahead of their clinician: booked, or under way.
OPEN_VISIT_STATES = (model.VisitStatus.BOOKED.value, model.VisitStatus.IN_PROGRESS.value)


def open_visits(scope: Scope) -> list[Visit]:
    """The actor's readable visits that are booked or under way, by slot."""
    found = readable_visits(scope, limit=100, offset=0)
    return sorted(
        (v for v in found if v.status in OPEN_VISIT_STATES), key=lambda v: (v.slot_start, v.id)
    )


def upcoming_visits_of_org(scope: Scope) -> Sequence[Visit]:
    """The coordinator's or administrator's organization's booked visits still ahead, by
    slot, audited as a list."""
    actor = access.require_org_manager(scope)
    visits = repository.upcoming_of_org(scope.session, actor.org_id, scope.clock.now())
    access.record_listed(
        scope,
        "visit",
        [access.Listed(v.id, v.patient_id, frozenset({v.clinician_id})) for v in visits],
    )
    return visits
