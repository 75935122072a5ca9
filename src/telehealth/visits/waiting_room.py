"""The waiting room: everyone but the visit's clinician waits there to be admitted, and the
clinician admits or removes them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telehealth.access import service as access
from telehealth.audit.model import Action
from telehealth.clock import ensure_utc
from telehealth.config import VisitSettings
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.identity import queries as identity_queries
from telehealth.scope import Scope
from telehealth.visits import model, repository
from telehealth.visits.booking import current_decision, synchronous_choice
from telehealth.visits.consent import consent_outstanding
from telehealth.visits.links import ParticipantContext, require_host
from telehealth.visits.model import ParticipantRole, ParticipantState, PresenceKind, VisitStatus
from telehealth.visits.session_record import change_modality, modality_now
from telehealth.visits.tables import Participant, PresenceEvent, Visit


def opens_at(visit: Visit, settings: VisitSettings) -> datetime:
    return ensure_utc(visit.slot_start) - settings.waiting_room_lead()


def enter_waiting_room(
    scope: Scope, ctx: ParticipantContext, settings: VisitSettings
) -> Participant:
    """Everyone but the visit's clinician waits to be admitted; there is no other way in. The
    clinician's own entry opens their room (the page turns their camera and microphone on
    first); patients and guests may enter from the lead time before the visit."""
    participant = ctx.participant
    state = ParticipantState(participant.state)
    if state in (ParticipantState.WAITING, ParticipantState.ADMITTED):
        return participant
    if ctx.is_host:
        _admit(scope, ctx.visit, participant)
        return participant
    opening = opens_at(ctx.visit, settings)
    if scope.clock.now() < opening:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"The waiting room opens {settings.waiting_room_lead_minutes} minutes before "
            "the visit starts.",
            opens_at=opening.isoformat(),
        )
    if ctx.role is ParticipantRole.PATIENT:
        _check_patient_ready(scope, ctx)
    participant.state = ParticipantState.WAITING.value
    participant.waiting_since = scope.clock.now()
    scope.audit.record(
        Action.UPDATE,
        "visit_participant",
        participant.id,
        patient_id=ctx.visit.patient_id,
        detail={"event": "waiting"},
    )
    return participant


def _check_patient_ready(scope: Scope, ctx: ParticipantContext) -> None:
    if ctx.participant.confirmed_state is None:
        raise DomainError(ErrorCode.PRECONDITION_FAILED, "confirm where you are first")
    if synchronous_choice(current_decision(scope, ctx.visit))[0] is None:
        raise DomainError(
            ErrorCode.INVALID_STATE, "the rules do not allow this visit where you are now"
        )
    outstanding = consent_outstanding(scope, ctx.visit)
    if outstanding:
        # The patient's own words for the first shortfall (missing, unsigned, lapsed).
        raise DomainError(ErrorCode.PRECONDITION_FAILED, str(outstanding[0]["plain"]))


def _admit(scope: Scope, visit: Visit, participant: Participant) -> None:
    now = scope.clock.now()
    participant.state = ParticipantState.ADMITTED.value
    participant.admitted_at = now
    scope.session.add(
        PresenceEvent(
            visit_id=visit.id, participant_id=participant.id, kind=PresenceKind.ADMIT.value, at=now
        )
    )
    scope.audit.record(
        Action.UPDATE,
        "visit_participant",
        participant.id,
        patient_id=visit.patient_id,
        detail={"event": "admitted"},
    )


def admit(scope: Scope, ctx: ParticipantContext, participant_id: uuid.UUID) -> Participant:
    require_host(scope, ctx)
    target = _peer(scope, ctx, participant_id)
    if target.state != ParticipantState.WAITING.value:
        raise DomainError(ErrorCode.INVALID_STATE, "that participant is not waiting")
    # Nobody is let into a call without the clinician in it.
    if ctx.participant.state != ParticipantState.ADMITTED.value:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            "Open your room first: your camera and microphone go on before you let anyone in.",
        )
    visit = ctx.visit
    _admit(scope, visit, target)
    if visit.status == VisitStatus.BOOKED.value and target.role == ParticipantRole.PATIENT.value:
        visit.status = VisitStatus.IN_PROGRESS.value
        visit.started_at = scope.clock.now()
        visit.updated_at = scope.clock.now()
        change_modality(scope, visit, modality_now(scope, visit))
    return target


def remove(scope: Scope, ctx: ParticipantContext, participant_id: uuid.UUID) -> Participant:
    require_host(scope, ctx)
    target = _peer(scope, ctx, participant_id)
    if target.id == ctx.participant.id:
        raise DomainError(ErrorCode.INVALID_INPUT, "the clinician cannot remove themself")
    if target.state == ParticipantState.REMOVED.value:
        return target
    now = scope.clock.now()
    target.state = ParticipantState.REMOVED.value
    target.removed_at = now
    target.token_hash = None
    target.video_active = False
    scope.session.add(
        PresenceEvent(
            visit_id=ctx.visit.id, participant_id=target.id, kind=PresenceKind.REMOVE.value, at=now
        )
    )
    scope.audit.record(
        Action.UPDATE,
        "visit_participant",
        target.id,
        patient_id=ctx.visit.patient_id,
        detail={"event": "removed"},
    )
    return target


def _peer(scope: Scope, ctx: ParticipantContext, participant_id: uuid.UUID) -> Participant:
    found = repository.participant_by_id(scope.session, participant_id)
    if found is None or found.visit_id != ctx.visit.id:
        access.record_denial(scope, "visit_participant", participant_id)
        raise not_found("participant")
    return found


def waiting_room(scope: Scope, ctx: ParticipantContext) -> list[dict[str, Any]]:
    """Who is waiting, with intake status: what the clinician needs before admitting. The
    patient row shows who they are (name, age, sex, record number) as the patient banner does;
    the date of birth is not shown."""
    require_host(scope, ctx)
    visit = ctx.visit
    outstanding = bool(consent_outstanding(scope, visit))
    banner = access.patient_banner(scope, visit.patient_id)
    tests = {t.participant_id: t for t in repository.precall_tests(scope.session, visit.id)}
    rows = []
    for p in repository.participants_of(scope.session, visit.id):
        if p.id == ctx.participant.id:
            continue
        test = tests.get(p.id)
        is_patient = p.role == ParticipantRole.PATIENT.value
        rows.append(
            {
                "id": str(p.id),
                "role": p.role,
                "display_name": p.display_name,
                "name": banner.name if is_patient else p.display_name,
                "age": banner.age if is_patient else None,
                "sex": banner.sex if is_patient else None,
                "record_number": banner.record_number if is_patient else None,
                "state": p.state,
                "waiting_since": p.waiting_since,
                "intake": {
                    "location_confirmed": p.confirmed_state is not None,
                    "location_state": p.confirmed_state,
                    "consent_complete": (not outstanding) if p.role == "patient" else None,
                    "precall_done": test is not None,
                    "video_feasible": test.video_feasible if test else None,
                },
            }
        )
    return rows


@dataclass(frozen=True)
class Lobby:
    """What the waiting room tells everyone: who the clinician is, when the room opens, and
    whether the clinician is in their room yet or running late."""

    clinician_name: str
    opens_at: datetime
    open: bool
    clinician_present: bool
    clinician_late: bool


def lobby(scope: Scope, ctx: ParticipantContext, settings: VisitSettings) -> Lobby:
    visit = ctx.visit
    present = any(
        p.role == ParticipantRole.CLINICIAN.value and p.state == ParticipantState.ADMITTED.value
        for p in repository.participants_of(scope.session, visit.id)
    )
    clinician = identity_queries.user_by_id(scope.session, visit.clinician_id)
    now = scope.clock.now()
    opening = opens_at(visit, settings)
    return Lobby(
        clinician_name=clinician.display_name if clinician is not None else "",
        opens_at=opening,
        open=now >= opening,
        clinician_present=present,
        clinician_late=not present and now >= ensure_utc(visit.slot_start),
    )


def position(scope: Scope, ctx: ParticipantContext) -> int | None:
    waiting = {
        str(p.id): ensure_utc(p.waiting_since)
        for p in repository.participants_of(scope.session, ctx.visit.id)
        if p.state == ParticipantState.WAITING.value and p.waiting_since is not None
    }
    return model.queue_position(waiting, str(ctx.participant.id))


def waiting_counts(scope: Scope, visits: Sequence[Visit]) -> dict[uuid.UUID, int]:
    """How many participants wait in each visit's waiting room (visits already read)."""
    return repository.participant_counts(
        scope.session, [v.id for v in visits], model.ParticipantState.WAITING.value
    )
