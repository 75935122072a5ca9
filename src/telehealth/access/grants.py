"""Review of break-glass grants: a grant is an object kind like any other, loaded through
:mod:`telehealth.access.loader` under the ``review_grant`` rule."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from telehealth.access import loader, repository
from telehealth.access.service import require_admin
from telehealth.access.tables import BreakGlassGrant
from telehealth.audit.model import Action
from telehealth.errors import DomainError, ErrorCode
from telehealth.scope import Scope


def _grant(session: Session, grant_id: uuid.UUID, _lock: bool) -> BreakGlassGrant | None:
    return repository.grant_by_id(session, grant_id)


def _grant_subject(grant: BreakGlassGrant) -> loader.Subject:
    # No patient: the grant is reviewed as an organization's record, not read as the patient's.
    return loader.Subject(grant.org_id, None, frozenset({grant.clinician_id}))


GRANT = loader.register(
    loader.Kind("break_glass_grant", "break-glass grant", _grant, _grant_subject)
)


def review_break_glass(scope: Scope, grant_id: uuid.UUID, outcome: str) -> BreakGlassGrant:
    actor = require_admin(scope)
    grant = loader.load(scope, GRANT, grant_id)
    if grant.reviewed_at is not None:
        raise DomainError(ErrorCode.CONFLICT, "this grant has already been reviewed")
    grant.reviewed_at = scope.clock.now()
    grant.reviewed_by = actor.user_id
    grant.review_outcome = outcome
    scope.audit.record(
        Action.UPDATE,
        "break_glass_grant",
        grant.id,
        patient_id=grant.patient_id,
        detail={"review": outcome},
    )
    return grant
