"""Join links and the participants holding one.

A participant presents a link's token instead of signing in: :func:`resolve_participant` turns
it into a :class:`ParticipantContext`, and every failure answers alike, so a link tells nothing
about whether a visit exists."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from telehealth.access import service as access
from telehealth.audit.model import Action
from telehealth.clock import ensure_utc
from telehealth.config import VisitSettings
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.identity import queries as identity_queries
from telehealth.identity import service as identity
from telehealth.identity.model import Actor, Role
from telehealth.policy.service import decide_and_record
from telehealth.scope import Scope
from telehealth.visits import model, repository
from telehealth.visits.access import joinable_visit
from telehealth.visits.booking import (
    add_participant,
    build_facts,
    current_decision,
    current_state,
    synchronous_choice,
)
from telehealth.visits.model import ParticipantRole, ParticipantState, VisitStatus
from telehealth.visits.tables import Participant, Visit

GUEST_ROLE = "visit_guest"


@dataclass(frozen=True)
class IssuedLink:
    participant: Participant
    token: str


def _issue_token(
    scope: Scope, visit: Visit, participant: Participant, settings: VisitSettings
) -> str:
    token, digest = model.new_join_token()
    participant.token_hash = digest
    participant.token_expires_at = ensure_utc(visit.slot_end) + settings.link_grace()
    scope.audit.record(
        Action.TOKEN_ISSUE, "visit_participant", participant.id, patient_id=visit.patient_id
    )
    return token


def issue_own_link(scope: Scope, visit_id: uuid.UUID, settings: VisitSettings) -> IssuedLink:
    """A signed-in patient or the visit's clinician gets (a fresh) link for themself."""
    actor = scope.require_actor()
    visit = joinable_visit(scope, visit_id)
    participant = repository.participant_of_user(scope.session, visit.id, actor.user_id)
    if participant is None or participant.state == ParticipantState.REMOVED.value:
        access.record_denial(scope, "visit", visit_id)
        raise DomainError(ErrorCode.FORBIDDEN, "you take no part in this visit")
    if VisitStatus(visit.status) not in model.OPEN_STATUSES:
        raise DomainError(ErrorCode.INVALID_STATE, "the visit is no longer open")
    return IssuedLink(participant, _issue_token(scope, visit, participant, settings))


@dataclass
class ParticipantContext:
    visit: Visit
    participant: Participant
    actor: Actor | None = field(default=None)

    @property
    def role(self) -> ParticipantRole:
        return ParticipantRole(self.participant.role)

    @property
    def is_host(self) -> bool:
        return self.role is ParticipantRole.CLINICIAN


INVALID_LINK = "the visit link is invalid or expired"


def resolve_participant(
    scope: Scope, token: str | None, *, lock: bool = False
) -> ParticipantContext:
    """The participant a join token belongs to. Every failure -- no token, unknown token,
    expired, removed, visit over -- gives the same answer, so a link reveals nothing about
    whether a visit exists."""
    found = None
    if token is not None and model.plausible_token(token):
        found = repository.participant_by_digest(scope.session, model.token_digest(token))
    visit = None
    if found is not None:
        visit = repository.visit_by_id(scope.session, found.visit_id, lock=lock)
    if (
        found is None
        or visit is None
        or found.state == ParticipantState.REMOVED.value
        or found.token_expires_at is None
        or scope.clock.now() >= ensure_utc(found.token_expires_at)
        or VisitStatus(visit.status) not in model.OPEN_STATUSES
    ):
        access.record_denial(scope, "visit_link", None)
        raise DomainError(ErrorCode.TOKEN_INVALID, INVALID_LINK)
    return ParticipantContext(visit, found, _identify(scope, found, visit))


def participant_context(scope: Scope, participant_id: uuid.UUID) -> ParticipantContext:
    """The context of a participant whose link was checked already (a signaling socket's, for
    as long as it stays open): removal closes that socket, and the actions check the visit's
    state themselves."""
    found = repository.participant_by_id(scope.session, participant_id)
    visit = None if found is None else repository.visit_by_id(scope.session, found.visit_id)
    if found is None or visit is None or found.state == ParticipantState.REMOVED.value:
        raise DomainError(ErrorCode.TOKEN_INVALID, INVALID_LINK)
    return ParticipantContext(visit, found, _identify(scope, found, visit))


def _identify(scope: Scope, participant: Participant, visit: Visit) -> Actor | None:
    if participant.user_id is not None:
        user = identity_queries.user_by_id(scope.session, participant.user_id)
        if user is not None and user.active:
            # A clinician's link is issued only to an MFA-verified session of that clinician.
            actor = identity.system_actor_for(scope, user)
            scope.act_as(actor)
            return actor
    scope.audit.identify(participant.id, GUEST_ROLE, visit.org_id)
    return None


def require_host(scope: Scope, ctx: ParticipantContext) -> None:
    if not ctx.is_host:
        access.record_denial(scope, "visit", ctx.visit.id)
        raise DomainError(ErrorCode.FORBIDDEN, "only the visit's clinician may do that")


@contextmanager
def acting_for_decision(scope: Scope, ctx: ParticipantContext) -> Iterator[None]:
    """Decisions need an actor who may read the patient: the patient themself, or -- for a
    patient without an account -- the visit's clinician, on whose behalf the link was made."""
    previous = scope.actor
    if ctx.actor is None or ctx.actor.role is not Role.PATIENT:
        user = identity_queries.user_by_id(scope.session, ctx.visit.clinician_id)
        if user is None:
            raise not_found("visit")
        scope.actor = identity.system_actor_for(scope, user)
    try:
        yield
    finally:
        scope.actor = previous


def invite(
    scope: Scope,
    ctx: ParticipantContext,
    role: ParticipantRole,
    display_name: str,
    settings: VisitSettings,
) -> IssuedLink:
    require_host(scope, ctx)
    if role not in model.GUEST_ROLES:
        raise DomainError(ErrorCode.INVALID_INPUT, "that role cannot be invited", field="role")
    participant = add_participant(scope, ctx.visit, role, None, display_name.strip()[:120])
    scope.audit.record(
        Action.CREATE,
        "visit_participant",
        participant.id,
        patient_id=ctx.visit.patient_id,
        detail={"role": role.value},
    )
    return IssuedLink(participant, _issue_token(scope, ctx.visit, participant, settings))


@dataclass(frozen=True)
class LocationOutcome:
    proceed: bool
    changed: bool
    decision_id: uuid.UUID
    planned_modality: str | None
    reason: str | None


def confirm_location(scope: Scope, ctx: ParticipantContext, state: str) -> LocationOutcome:
    """The patient says where they are now; a different state means a new decision."""
    if ctx.role is not ParticipantRole.PATIENT:
        raise DomainError(ErrorCode.INVALID_STATE, "only the patient confirms their location")
    state = identity.check_state(state, "state")
    visit = ctx.visit
    ctx.participant.confirmed_state = state
    changed = state != current_state(scope, visit)
    if changed:
        with acting_for_decision(scope, ctx):
            facts = build_facts(
                scope,
                visit.intake,
                clinician_id=visit.clinician_id,
                located_state=state,
                on=scope.clock.now().date(),
            )
            decision, record = decide_and_record(scope, facts, patient_id=visit.patient_id)
        visit.current_decision_id = record.id
        planned, reason = synchronous_choice(decision)
        if planned is not None:
            visit.planned_modality = planned
            visit.fallback_reason = reason
    current = current_decision(scope, visit)
    planned, reason = synchronous_choice(current)
    scope.audit.record(
        Action.UPDATE,
        "visit",
        visit.id,
        patient_id=visit.patient_id,
        detail={"event": "location_confirmed", "state_changed": changed},
    )
    return LocationOutcome(planned is not None, changed, visit.current_decision_id, planned, reason)


def participants_view(scope: Scope, visit: Visit) -> list[dict[str, Any]]:
    return [
        {"id": str(p.id), "role": p.role, "display_name": p.display_name, "state": p.state}
        for p in repository.participants_of(scope.session, visit.id)
    ]
