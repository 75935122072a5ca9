"""The visit loaders: every signed-in reach of a visit goes through
:mod:`telehealth.access.loader` under the visit's read rule, and an action's own rule decides
what a reader may do with it. Each read of a visit (PHI: who sees whom, when, about what) is
audited."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from telehealth.access import loader, rules
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


def readable_visit(scope: Scope, visit_id: uuid.UUID, *, audit: bool = True) -> Visit:
    visit = loader.load(scope, VISIT, visit_id)
    if audit:
        scope.audit.record(Action.READ, "visit", visit.id, patient_id=visit.patient_id)
    return visit


def writable_visit(scope: Scope, visit_id: uuid.UUID, *, lock: bool = False) -> Visit:
    return loader.load(scope, VISIT, visit_id, lock=lock, rule=rules.change_visit)


def clinician_visit(scope: Scope, visit_id: uuid.UUID, *, lock: bool = False) -> Visit:
    """A visit the acting clinician conducts (notes, ending)."""
    return loader.load(scope, VISIT, visit_id, lock=lock, rule=rules.conduct_visit)


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
    for visit in visits:
        scope.audit.record(
            Action.READ, "visit", visit.id, patient_id=visit.patient_id, detail={"via": "list"}
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
