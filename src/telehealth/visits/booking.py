"""Booking, cancelling and rescheduling visits, reminders, and the decision a visit is
planned on (made at booking, renewed when the patient's location or link changes it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from telehealth.access import service as access
from telehealth.audit.model import Action
from telehealth.config import VisitSettings
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.identity import queries as identity_queries
from telehealth.identity import service as identity
from telehealth.identity.model import CareSource, Role
from telehealth.notifications.service import notify
from telehealth.policy.clinicians import DEFAULT_SPECIALTY, clinician_facts, practised_specialty
from telehealth.policy.decision import Decision
from telehealth.policy.engine import decide
from telehealth.policy.facts import parse_facts
from telehealth.policy.impact import Change, compare
from telehealth.policy.service import decide_and_record, decision_record
from telehealth.scope import Scope
from telehealth.visits import model, repository
from telehealth.visits.access import writable_visit
from telehealth.visits.availability import offering_window
from telehealth.visits.model import (
    AUDIO_ONLY,
    AUDIO_VIDEO,
    ParticipantRole,
    ParticipantState,
    VisitStatus,
)
from telehealth.visits.tables import Participant, Visit
from telehealth.vocabulary import Modality

if TYPE_CHECKING:
    from telehealth.policy.records import DecisionRecord


@dataclass(frozen=True)
class Intake:
    """What the decision engine needs about the encounter (state codes and categories only)."""

    located_state: str
    acuity: str
    purpose: str
    specialty: str | None = None
    payer: str = "commercial"
    setting: str = "home"
    established: bool = True
    last_in_person_visit: date | None = None
    video_capable: bool = True
    consents_to_video: bool = True
    controlled_substance: dict[str, Any] | None = None

    def stored(self) -> dict[str, Any]:
        return {
            "acuity": self.acuity,
            "purpose": self.purpose,
            "specialty": self.specialty,
            "payer": self.payer,
            "setting": self.setting,
            "established": self.established,
            "last_in_person_visit": (
                self.last_in_person_visit.isoformat() if self.last_in_person_visit else None
            ),
            "video_capable": self.video_capable,
            "consents_to_video": self.consents_to_video,
            "controlled_substance": self.controlled_substance,
        }


def specialty_for(scope: Scope, clinician_id: uuid.UUID, wanted: str | None) -> str:
    """The specialty a visit is decided and booked under: the one asked for, else the
    clinician's first."""
    return practised_specialty(scope.session, clinician_id, wanted)


def build_facts(
    scope: Scope,
    visit_intake: dict[str, Any],
    *,
    clinician_id: uuid.UUID,
    located_state: str,
    on: date,
    bandwidth: dict[str, float] | None = None,
    video_capable: bool | None = None,
) -> dict[str, Any]:
    specialty = visit_intake.get("specialty") or DEFAULT_SPECIALTY
    patient: dict[str, Any] = {
        "location_state": located_state,
        "setting": visit_intake["setting"],
        "payer": visit_intake["payer"],
        "established": visit_intake["established"],
        "last_in_person_visit": visit_intake["last_in_person_visit"],
        "video_capable": visit_intake["video_capable"] if video_capable is None else video_capable,
        "consents_to_video": visit_intake["consents_to_video"],
    }
    if bandwidth is not None:
        patient["bandwidth"] = bandwidth
    encounter: dict[str, Any] = {
        "specialty": specialty,
        "acuity": visit_intake["acuity"],
        "purpose": visit_intake["purpose"],
    }
    if visit_intake.get("controlled_substance"):
        encounter["controlled_substance"] = visit_intake["controlled_substance"]
    return {
        "date_of_service": on.isoformat(),
        "patient": patient,
        "clinician": clinician_facts(scope.session, clinician_id, specialty),
        "encounter": encounter,
    }


def synchronous_choice(decision: Decision) -> tuple[str | None, str | None]:
    """The synchronous modality to plan for and, when it is not video, the reason why."""
    video = decision.modalities["sync_audio_video"]
    audio = decision.modalities["sync_audio_only"]
    if video.status == "allowed":
        return AUDIO_VIDEO, None
    reason = "; ".join(r.message for r in video.reasons if r.message)[:300] or None
    if audio.status != "not_allowed":
        return AUDIO_ONLY, reason or "video is not advised for this visit"
    return None, reason


def alternatives(decision: Decision) -> list[str]:
    options: tuple[Modality, ...] = ("sync_audio_only", "async_store_and_forward")
    return [m for m in options if decision.modalities[m].status == "allowed"]


def _refuse_unless_synchronous(decision: Decision) -> str:
    modality, _reason = synchronous_choice(decision)
    if modality is None:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            "the rules do not allow a synchronous visit for this patient, place and clinician",
        )
    return modality


def book(
    scope: Scope,
    *,
    patient_id: uuid.UUID,
    clinician_id: uuid.UUID,
    slot_start: datetime,
    intake: Intake,
) -> tuple[Visit, Decision]:
    actor = scope.require_actor()
    patient = access.readable_patient(scope, patient_id)
    if actor.role is Role.ADMIN:
        raise DomainError(ErrorCode.FORBIDDEN, "administrators do not book visits")
    clinician = access.readable_clinician(scope, clinician_id)
    if patient.org_id != actor.org_id:
        raise not_found("patient")
    # Booking puts the clinician on the care team, which outlasts any break-glass grant.
    access.require_standing_relationship(scope, patient, "booking a visit")
    slot_start = slot_start.astimezone(UTC)
    window = offering_window(scope, clinician_id, slot_start)
    state = identity.check_state(intake.located_state, "located_state")
    stored = {**intake.stored(), "specialty": specialty_for(scope, clinician_id, intake.specialty)}
    # Booking a clinician for a patient puts the clinician on the patient's care team.
    access.extend_care(scope, patient, clinician_id, CareSource.VISIT_BOOKING)
    facts = build_facts(
        scope, stored, clinician_id=clinician_id, located_state=state, on=slot_start.date()
    )
    decision, record = decide_and_record(scope, facts, patient_id=patient.id)
    planned = _refuse_unless_synchronous(decision)
    now = scope.clock.now()
    visit = Visit(
        org_id=patient.org_id,
        patient_id=patient.id,
        clinician_id=clinician_id,
        booked_by=actor.user_id,
        status=VisitStatus.BOOKED.value,
        slot_start=slot_start,
        slot_end=slot_start + timedelta(minutes=window.slot_minutes),
        held_slot=slot_start,
        time_zone=window.time_zone,
        intake=stored,
        located_state=state,
        decision_id=record.id,
        current_decision_id=record.id,
        planned_modality=planned,
        fallback_reason=synchronous_choice(decision)[1],
        version=1,
        created_at=now,
        updated_at=now,
    )
    scope.session.add(visit)
    _flush_slot(scope)
    # Participants carry the names the call shows on their tiles and in the waiting room.
    patient_name = f"{patient.given_name} {patient.family_name}"
    add_participant(scope, visit, ParticipantRole.PATIENT, patient.user_id, patient_name)
    add_participant(scope, visit, ParticipantRole.CLINICIAN, clinician_id, clinician.display_name)
    scope.audit.record(
        Action.CREATE,
        "visit",
        visit.id,
        patient_id=patient.id,
        detail={"decision_id": str(record.id)},
    )
    _tell_parties(scope, visit, "visit_booked", "A visit was booked")
    return visit, decision


def _flush_slot(scope: Scope) -> None:
    try:
        scope.session.flush()
    except IntegrityError as exc:
        raise DomainError(ErrorCode.CONFLICT, "that slot is no longer available") from exc


def add_participant(
    scope: Scope, visit: Visit, role: ParticipantRole, user_id: uuid.UUID | None, name: str
) -> Participant:
    participant = Participant(
        visit_id=visit.id,
        role=role.value,
        user_id=user_id,
        display_name=name[:120],
        state=ParticipantState.INVITED.value,
        video_active=False,
        created_at=scope.clock.now(),
    )
    scope.session.add(participant)
    scope.session.flush()
    return participant


def _tell_parties(scope: Scope, visit: Visit, kind: str, title: str) -> None:
    patient = identity_queries.patient_by_id(scope.session, visit.patient_id)
    link = f"/visits/{visit.id}"
    if patient is not None and patient.user_id is not None:
        notify(scope, patient.user_id, kind=kind, title=title, link=link)
    notify(scope, visit.clinician_id, kind=kind, title=title, link=link)


def cancel(scope: Scope, visit_id: uuid.UUID) -> Visit:
    visit = writable_visit(scope, visit_id, lock=True)
    model.check_transition(VisitStatus(visit.status), VisitStatus.CANCELLED)
    visit.status = VisitStatus.CANCELLED.value
    visit.held_slot = None
    visit.updated_at = scope.clock.now()
    visit.version += 1
    for participant in repository.participants_of(scope.session, visit.id):
        participant.token_hash = None
    scope.audit.record(
        Action.UPDATE, "visit", visit.id, patient_id=visit.patient_id, detail={"event": "cancelled"}
    )
    _tell_parties(scope, visit, "visit_cancelled", "A visit was cancelled")
    return visit


def reschedule(
    scope: Scope,
    visit_id: uuid.UUID,
    slot_start: datetime,
    settings: VisitSettings,
    *,
    version: int,
) -> Visit:
    visit = writable_visit(scope, visit_id, lock=True)
    if visit.version != version:
        raise DomainError(ErrorCode.CONFLICT, "the visit changed since it was read")
    if visit.status != VisitStatus.BOOKED.value:
        raise DomainError(ErrorCode.INVALID_STATE, "only a booked visit can be rescheduled")
    slot_start = slot_start.astimezone(UTC)
    window = offering_window(scope, visit.clinician_id, slot_start)
    visit.slot_start = slot_start
    visit.slot_end = slot_start + timedelta(minutes=window.slot_minutes)
    visit.held_slot = slot_start
    visit.time_zone = window.time_zone
    visit.reminder_sent_at = None
    visit.updated_at = scope.clock.now()
    visit.version += 1
    _flush_slot(scope)
    for participant in repository.participants_of(scope.session, visit.id):
        if participant.token_hash is not None:
            participant.token_expires_at = visit.slot_end + settings.link_grace()
    scope.audit.record(
        Action.UPDATE,
        "visit",
        visit.id,
        patient_id=visit.patient_id,
        detail={"event": "rescheduled"},
    )
    _tell_parties(scope, visit, "visit_rescheduled", "A visit was rescheduled")
    return visit


def send_reminders(scope: Scope, settings: VisitSettings) -> int:
    now = scope.clock.now()
    due = repository.due_reminders(
        scope.session, now, now + timedelta(minutes=settings.reminder_lead_minutes)
    )
    for visit in due:
        visit.reminder_sent_at = now
        _tell_parties(scope, visit, "visit_reminder", "You have an upcoming visit")
        scope.audit.record(
            Action.UPDATE,
            "visit",
            visit.id,
            patient_id=visit.patient_id,
            detail={"event": "reminded"},
        )
    return len(due)


def current_state(scope: Scope, visit: Visit) -> str:
    return state_of(visit, current_record(scope, visit))


def current_decision(scope: Scope, visit: Visit) -> Decision:
    return decision_of(current_record(scope, visit))


def current_record(scope: Scope, visit: Visit) -> DecisionRecord | None:
    return decision_record(scope, visit.current_decision_id)


def state_of(visit: Visit, record: DecisionRecord | None) -> str:
    if record is None:
        return visit.located_state
    return str(record.masked_facts["patient"]["location_state"])


def decision_of(record: DecisionRecord | None) -> Decision:
    if record is None:
        raise DomainError(ErrorCode.INTEGRITY_ERROR, "the visit's decision is missing")
    return Decision.model_validate(record.decision)


def visit_facts(scope: Scope, visit: Visit, on: date) -> dict[str, Any]:
    """The decision engine's facts for a booked visit as if it took place on ``on``: its
    intake, the state the patient is in, and the clinician's credentials as they stand."""
    return build_facts(
        scope,
        visit.intake,
        clinician_id=visit.clinician_id,
        located_state=current_state(scope, visit),
        on=on,
    )


def revision_changes(scope: Scope, visit: Visit) -> list[Change]:
    """What the rule set in force takes away from a visit planned under an older revision: its
    stored decision against a decision now, both for the visit's own date. Nothing when the
    visit was decided under the current revision or cannot be decided now."""
    record = current_record(scope, visit)
    ruleset = scope.ports.ruleset
    if record is None or record.ruleset_revision == ruleset.revision:
        return []
    on = visit.slot_start.date()
    try:
        now = decide(
            parse_facts(visit_facts(scope, visit, on)),
            ruleset,
            evaluated_at=scope.clock.now(),
            decision_id="revision-impact",
        )
    except DomainError:
        return []
    return compare(decision_of(record), now, on)
