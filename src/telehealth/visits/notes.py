"""The clinician's visit note: written in versions, signed, then changed only by
amendment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from telehealth.audit.model import Action
from telehealth.clock import ensure_utc
from telehealth.config import VisitSettings
from telehealth.errors import DomainError, ErrorCode
from telehealth.identity import service as identity
from telehealth.identity.model import Signer
from telehealth.scope import Scope
from telehealth.visits import model, repository
from telehealth.visits.tables import NoteAmendment, Visit, VisitNote


def write_note(scope: Scope, visit: Visit, body: str, version: int | None) -> VisitNote:
    actor = scope.require_actor()
    note = repository.note_of(scope.session, visit.id, lock=True)
    now = scope.clock.now()
    if note is None:
        note = VisitNote(
            visit_id=visit.id,
            author_id=actor.user_id,
            body=body,
            version=1,
            signed_late=False,
            created_at=now,
            updated_at=now,
        )
        scope.session.add(note)
        try:
            scope.session.flush()
        except IntegrityError as exc:
            raise DomainError(ErrorCode.CONFLICT, "the note was started elsewhere") from exc
        scope.audit.record(Action.CREATE, "visit_note", note.id, patient_id=visit.patient_id)
        return note
    if note.signed_at is not None:
        raise DomainError(ErrorCode.INVALID_STATE, "a signed note changes only by amendment")
    if version is None or version != note.version:
        raise DomainError(ErrorCode.CONFLICT, "the note changed since it was read")
    note.body = body
    note.version += 1
    note.updated_at = now
    scope.audit.record(Action.UPDATE, "visit_note", note.id, patient_id=visit.patient_id)
    return note


def sign_note(scope: Scope, visit: Visit, settings: VisitSettings) -> VisitNote:
    """Sign the note: the clinician who signs it answers for it and is named as its author."""
    actor = scope.require_actor()
    note = repository.note_of(scope.session, visit.id, lock=True)
    if note is None:
        raise DomainError(ErrorCode.INVALID_STATE, "there is no note to sign")
    if note.signed_at is not None:
        raise DomainError(ErrorCode.INVALID_STATE, "the note is already signed")
    now = scope.clock.now()
    note.signed_at = now
    note.author_id = actor.user_id
    note.signed_late = model.signed_late(
        ensure_utc(visit.ended_at) if visit.ended_at else None,
        now,
        timedelta(hours=settings.note_sign_window_hours),
    )
    note.updated_at = now
    scope.audit.record(
        Action.UPDATE,
        "visit_note",
        note.id,
        patient_id=visit.patient_id,
        detail={"event": "signed", "late": note.signed_late},
    )
    return note


def amend_note(scope: Scope, visit: Visit, body: str) -> NoteAmendment:
    actor = scope.require_actor()
    note = repository.note_of(scope.session, visit.id)
    if note is None or note.signed_at is None:
        raise DomainError(ErrorCode.INVALID_STATE, "only a signed note takes amendments")
    amendment = NoteAmendment(
        note_id=note.id, author_id=actor.user_id, body=body, created_at=scope.clock.now()
    )
    scope.session.add(amendment)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE, "visit_note_amendment", amendment.id, patient_id=visit.patient_id
    )
    return amendment


def note_view(scope: Scope, visit: Visit) -> dict[str, Any] | None:
    """The note with who signed it and who wrote each amendment (name and specialty)."""
    note = repository.note_of(scope.session, visit.id)
    if note is None:
        return None
    amendments = repository.amendments_of(scope.session, note.id)
    authors = [a.author_id for a in amendments]
    if note.signed_at is not None:
        authors.append(note.author_id)
    people = identity.signers(scope, authors)
    return {
        "id": str(note.id),
        "body": note.body,
        "version": note.version,
        "signed_at": note.signed_at,
        "signed_late": note.signed_late,
        "signed_by": _person(people.get(note.author_id)) if note.signed_at else None,
        "amendments": [
            {"body": a.body, "created_at": a.created_at, "author": _person(people.get(a.author_id))}
            for a in amendments
        ],
    }


def _person(signer: Signer | None) -> dict[str, Any] | None:
    if signer is None:
        return None
    return {"id": str(signer.id), "name": signer.name, "specialty": signer.specialty}
