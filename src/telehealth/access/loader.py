"""The one loader every route, page, job and lane reaches a patient-scoped object through.

``access`` knows no care capability (import-linter contract "foundation-below-care"), so each
capability registers, for its object kinds, how to fetch an object and what it names (its
organization, its patient, the users working on it) with :func:`register`; registration happens
when the capability is imported, that is when the app is built (as jobs register). The
decision (a rule of :mod:`telehealth.access.rules`) and its audit stay here: a hidden object is
reported, and audited, exactly as a missing one; a read through an emergency grant is audited
as break-glass use, whatever the kind.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from telehealth.access import rules
from telehealth.access.service import facts_about, record_denial
from telehealth.audit.model import Action
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.scope import Scope

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Subject:
    """What an object says about itself that access needs."""

    org_id: uuid.UUID
    patient_id: uuid.UUID | None
    named: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True, slots=True)
class Kind(Generic[T]):
    """A registered object kind: ``name`` is the audit log's object kind, ``missing`` the noun
    of its not-found error, ``fetch`` reads one object by id (locking it for update when asked)
    and ``subject`` reads the access facts off it."""

    name: str
    missing: str
    fetch: Callable[[Session, uuid.UUID, bool], T | None]
    subject: Callable[[T], Subject]

    @property
    def rule(self) -> rules.Rule:
        return rules.READ_RULES[self.name]


_KINDS: dict[str, Kind[object]] = {}


def register(kind: Kind[T]) -> Kind[T]:
    """Registers an object kind (once; a second, different registration is a wiring error)."""
    if kind.name not in rules.READ_RULES:
        raise LookupError(f"no access rule for object kind {kind.name!r}")
    known = _KINDS.get(kind.name)
    if known is not None and known != kind:
        raise LookupError(f"object kind {kind.name!r} is registered twice")
    _KINDS[kind.name] = kind  # type: ignore[assignment]
    return kind


def registered() -> dict[str, Kind[object]]:
    return dict(_KINDS)


def verdict(scope: Scope, subject: Subject, rule: rules.Rule) -> rules.Verdict:
    """The rule's verdict on an object for the scope's actor, at the scope's time."""
    actor = scope.require_actor()
    patient = None
    if subject.patient_id is not None:
        patient = facts_about(scope, actor, subject.patient_id)
        if patient is None:
            return rules.DENY
    return rule(actor, rules.ObjectFacts(subject.org_id, patient, subject.named))


def load(
    scope: Scope,
    kind: Kind[T],
    object_id: uuid.UUID,
    *,
    lock: bool = False,
    action: rules.Rule | None = None,
    refusal: str | None = None,
) -> T:
    """The object if the actor may see it (the kind's read rule); else the kind's not-found
    error, with the denial audited. With ``action``, the rule of what is to be done with it
    decides next: an actor who may see the object but not do that gets a forbidden error
    (``refusal``, or a general one), audited too -- the object is no secret to them; the
    action is not theirs. What the object's state forbids is for the caller to answer after
    this (docs/access.md, the order of refusals)."""
    if _KINDS.get(kind.name) is not kind:
        raise LookupError(f"object kind {kind.name!r} is not registered")
    key = ("access.load", kind.name, scope.require_actor().user_id, object_id)
    known: T | None = None if lock or action is not None else scope.memo.get(key)
    if known is not None and _in_session(scope, known):
        return known
    found = kind.fetch(scope.session, object_id, lock)
    subject = kind.subject(found) if found is not None else None
    seen = rules.DENY if subject is None else verdict(scope, subject, kind.rule)
    if found is None or subject is None or not seen.allowed:
        deny(scope, kind.name, object_id, subject)
        raise not_found(kind.missing)
    decided = seen if action is None else verdict(scope, subject, action)
    if not decided.allowed:
        deny(scope, kind.name, object_id, subject)
        raise DomainError(
            ErrorCode.FORBIDDEN,
            refusal or f"you may see this {kind.missing} but not do that with it",
        )
    if decided.recorded is rules.Recorded.BREAK_GLASS:
        scope.audit.record(
            Action.BREAK_GLASS,
            kind.name,
            object_id,
            patient_id=subject.patient_id,
            detail={"use": "read"},
        )
    if not lock and action is None:
        scope.memo[key] = found
    return found


def _in_session(scope: Scope, found: object) -> bool:
    """Whether a kept object's rows are still in the session: rows kept from before a
    rollback have left it and are read (and decided on) again."""
    parts = found if isinstance(found, tuple) else (found,)
    return all(part in scope.session for part in parts if hasattr(part, "_sa_instance_state"))


def deny(scope: Scope, kind: str, object_id: uuid.UUID | None, subject: Subject | None) -> None:
    """Audits a refused or missing object the one way (see :func:`record_denial`)."""
    if subject is None:
        record_denial(scope, kind, object_id)
        return
    record_denial(scope, kind, object_id, subject.patient_id, patient_org_id=subject.org_id)
