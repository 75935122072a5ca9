"""The visit loaders: every signed-in reach of a visit goes through
:mod:`telehealth.access.loader`. Whoever may not read the visit gets the answer for a missing
one; an action's own rule then decides what a reader may do with it (403 otherwise). Each read
of a visit (PHI: who sees whom, when, about what) is audited."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from telehealth.access import loader, rules
from telehealth.access import service as access
from telehealth.audit.model import Action
from telehealth.identity.model import Role
from telehealth.scope import Scope
from telehealth.visits import model, repository
from telehealth.visits.tables import Visit


def _visit(session: Session, visit_id: uuid.UUID, lock: bool) -> Visit | None:
    return repository.visit_by_id(session, visit_id, lock=lock)


def _subject(visit: Visit) -> loader.Subject:
    return loader.Subject(visit.org_id, visit.patient_id, frozenset({visit.clinician_id}))


VISIT = loader.register(loader.Kind("visit", "visit", _visit, _subject))


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
    return loader.verdict(scope, _subject(visit), rules.conduct_visit).allowed


def may_change(scope: Scope, visit: Visit) -> bool:
    """Whether the actor may cancel or reschedule the visit (so its page offers them)."""
    return loader.verdict(scope, _subject(visit), rules.change_visit).allowed


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
    scope: Scope, *, limit: int, offset: int, status: str | None = None
) -> Sequence[Visit]:
    actor = scope.require_actor()
    session = scope.session
    if actor.role is Role.PATIENT:
        visits = repository.visits_of_patient(session, actor.patient_id, status, limit, offset)
    elif actor.role is Role.CLINICIAN:
        visits = repository.visits_of_clinician(
            session, actor.org_id, actor.user_id, status, limit, offset, now=scope.clock.now()
        )
    else:
        visits = repository.visits_of_org(session, actor.org_id, status, limit, offset)
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


def coded_visits(
    scope: Scope,
    *,
    patient_ids: Sequence[uuid.UUID] | None,
    ids: Sequence[uuid.UUID] | None,
    ended: tuple[datetime | None, datetime | None],
    limit: int,
    offset: int,
) -> Sequence[Visit]:
    """Ended, coded visits the actor may read (the visit rule), the latest ended first: a
    patient's own; a staff member's of the patients asked for that they may read or, asking
    for none, those they conducted. The caller audits what it shows."""
    actor = scope.require_actor()
    clinician_id: uuid.UUID | None = None
    if actor.role is Role.PATIENT:
        own = actor.patient_id
        if own is None or (patient_ids is not None and own not in patient_ids):
            return []
        patient_ids = [own]
    elif patient_ids is None:
        clinician_id = actor.user_id
    else:
        patient_ids = [p for p in patient_ids if access.patient_if_readable(scope, p) is not None]
        if not patient_ids:
            return []
    return repository.coded_visits(
        scope.session,
        patient_ids=patient_ids,
        clinician_id=clinician_id,
        org_id=actor.org_id,
        ids=ids,
        ended=ended,
        limit=limit,
        offset=offset,
    )


def visit_record(session: Session, visit_id: uuid.UUID) -> Visit | None:
    """A visit by id, for a loader of what the visit holds (its billing lines), which decides
    access by the visit's subject (:func:`visit_subject`)."""
    return repository.visit_by_id(session, visit_id)


def visit_subject(visit: Visit) -> loader.Subject:
    return _subject(visit)
