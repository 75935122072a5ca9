"""Visit actions. Each one that changes something records its audit event; every read of a
visit (PHI: who sees whom, when, about what) is audited too.

Two kinds of caller reach these functions: signed-in users (an :class:`Actor` on the scope),
and visit participants holding a join link (a :class:`ParticipantContext` resolved from the
link's token). Object-level access for both is decided here, in ``readable_visit`` /
``writable_visit`` / ``resolve_participant``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from telehealth.access import loader, rules
from telehealth.access import policy as access_policy
from telehealth.access import service as access
from telehealth.audit.model import Action
from telehealth.clock import ensure_utc
from telehealth.coding.encounter import CodingResult, Encounter
from telehealth.coding.engine import code_encounter
from telehealth.config import VisitSettings
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.identity import admin as identity_admin
from telehealth.identity import repository as identity_repo
from telehealth.identity import service as identity
from telehealth.identity.model import Actor, CareSource, Role
from telehealth.notifications.service import notify
from telehealth.policy.decision import Decision
from telehealth.policy.service import decide_and_record, decision_record
from telehealth.scope import Scope
from telehealth.visits import model, repository
from telehealth.visits.model import (
    AUDIO_ONLY,
    AUDIO_VIDEO,
    ConsentMethod,
    ParticipantRole,
    ParticipantState,
    PresenceKind,
    VisitStatus,
)
from telehealth.visits.tables import (
    AvailabilityWindow,
    Consent,
    ModalityChangeRow,
    NoteAmendment,
    Participant,
    PrecallTest,
    PresenceEvent,
    Visit,
    VisitNote,
)
from telehealth.vocabulary import Modality

if TYPE_CHECKING:
    from telehealth.identity.tables import User
    from telehealth.policy.records import DecisionRecord

SYNC_MODALITIES = (AUDIO_VIDEO, AUDIO_ONLY)
MAX_SLOT_RANGE = timedelta(days=31)
GUEST_ROLE = "visit_guest"


# --- access ---------------------------------------------------------------------------------


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


# --- availability ---------------------------------------------------------------------------


def _require_schedule_manager(scope: Scope, clinician_id: uuid.UUID) -> None:
    actor = scope.require_actor()
    access.readable_clinician(scope, clinician_id)
    if actor.user_id == clinician_id:
        return
    if not access_policy.may_manage_org(actor, actor.org_id):
        access.record_denial(scope, "availability", clinician_id)
        raise DomainError(
            ErrorCode.FORBIDDEN, "only the clinician or a coordinator may change availability"
        )


def _window(row: AvailabilityWindow) -> model.WeeklyWindow:
    return model.WeeklyWindow(
        row.time_zone, row.weekday, row.start_time, row.end_time, row.slot_minutes
    )


def add_window(
    scope: Scope, clinician_id: uuid.UUID, window: model.WeeklyWindow
) -> AvailabilityWindow:
    _require_schedule_manager(scope, clinician_id)
    window.validate()
    existing = repository.windows_of(scope.session, clinician_id)
    # One time zone per clinician and no overlapping windows: slots of different windows can
    # then never overlap, which is what lets one unique (clinician, slot start) rule out every
    # double booking.
    if any(row.time_zone != window.time_zone for row in existing):
        raise DomainError(
            ErrorCode.CONFLICT, "all of a clinician's availability uses one time zone"
        )
    for row in existing:
        if (
            row.weekday == window.weekday
            and row.start_time < window.end
            and window.start < row.end_time
        ):
            raise DomainError(ErrorCode.CONFLICT, "the window overlaps existing availability")
    actor = scope.require_actor()
    row = AvailabilityWindow(
        org_id=actor.org_id,
        clinician_id=clinician_id,
        time_zone=window.time_zone,
        weekday=window.weekday,
        start_time=window.start,
        end_time=window.end,
        slot_minutes=window.slot_minutes,
        created_at=scope.clock.now(),
    )
    scope.session.add(row)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE, "availability", row.id, detail={"clinician_id": str(clinician_id)}
    )
    return row


def remove_window(scope: Scope, window_id: uuid.UUID) -> None:
    actor = scope.require_actor()
    row = repository.window_by_id(scope.session, window_id)
    if row is None or row.org_id != actor.org_id:
        access.record_denial(scope, "availability", window_id)
        raise not_found("availability window")
    _require_schedule_manager(scope, row.clinician_id)
    scope.session.delete(row)
    scope.audit.record(Action.DELETE, "availability", window_id)


def windows(scope: Scope, clinician_id: uuid.UUID) -> Sequence[AvailabilityWindow]:
    access.readable_clinician(scope, clinician_id)
    return repository.windows_of(scope.session, clinician_id)


def windows_by_clinician(
    scope: Scope, clinician_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[AvailabilityWindow]]:
    """:func:`windows` of several clinicians, read together."""
    for clinician_id in clinician_ids:
        access.readable_clinician(scope, clinician_id)
    return repository.windows_of_clinicians(scope.session, clinician_ids)


# Visits still ahead of their clinician: booked, or under way.
OPEN_VISIT_STATES = (model.VisitStatus.BOOKED.value, model.VisitStatus.IN_PROGRESS.value)


def open_visits(scope: Scope) -> list[Visit]:
    """The actor's readable visits that are booked or under way, by slot."""
    found = readable_visits(scope, limit=100, offset=0)
    return sorted(
        (v for v in found if v.status in OPEN_VISIT_STATES), key=lambda v: (v.slot_start, v.id)
    )


def waiting_counts(scope: Scope, visits: Sequence[Visit]) -> dict[uuid.UUID, int]:
    """How many participants wait in each visit's waiting room (visits already read)."""
    return repository.participant_counts(
        scope.session, [v.id for v in visits], model.ParticipantState.WAITING.value
    )


@dataclass
class Schedule:
    clinician: User
    windows: list[AvailabilityWindow]
    visits: list[Visit]


def org_schedules(scope: Scope) -> list[Schedule]:
    """Each clinician of the manager's organization with their weekly windows and open visits."""
    access.require_org_manager(scope)
    booked: dict[uuid.UUID, list[Visit]] = defaultdict(list)
    for visit in open_visits(scope):
        booked[visit.clinician_id].append(visit)
    clinicians = identity_admin.org_clinicians(scope)
    windows = windows_by_clinician(scope, [user.id for user in clinicians])
    return [Schedule(user, windows[user.id], booked.get(user.id, [])) for user in clinicians]


def add_org_window(
    scope: Scope, clinician_id: uuid.UUID, window: model.WeeklyWindow
) -> AvailabilityWindow:
    """A window added by a coordinator or administrator for a clinician of their organization."""
    user = identity_admin.org_clinician(scope, clinician_id)
    return add_window(scope, user.id, window)


def free_slots(
    scope: Scope, clinician_id: uuid.UUID, start: datetime, end: datetime
) -> list[tuple[datetime, int]]:
    access.readable_clinician(scope, clinician_id)
    start = max(start.astimezone(UTC), scope.clock.now())
    if end <= start:
        return []
    end = min(end.astimezone(UTC), start + MAX_SLOT_RANGE)
    rows = repository.windows_of(scope.session, clinician_id)
    taken = [ensure_utc(t) for t in repository.held_slots(scope.session, clinician_id, start, end)]
    return model.open_slots([_window(r) for r in rows], start, end, taken)


def _offering_window(
    scope: Scope, clinician_id: uuid.UUID, slot_start: datetime
) -> model.WeeklyWindow:
    """The clinician's availability that offers a slot starting then (its length and time
    zone are the visit's)."""
    if slot_start <= scope.clock.now():
        raise DomainError(ErrorCode.INVALID_INPUT, "the slot is in the past", field="slot_start")
    for row in repository.windows_of(scope.session, clinician_id):
        window = _window(row)
        if window.offers(slot_start):
            return window
    raise DomainError(
        ErrorCode.INVALID_INPUT, "the clinician offers no slot at that time", field="slot_start"
    )


# --- booking --------------------------------------------------------------------------------


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


def _specialty(scope: Scope, clinician_id: uuid.UUID, wanted: str | None) -> str:
    if wanted:
        return wanted
    profile = identity_repo.clinician_profile(scope.session, clinician_id)
    if profile is not None and profile.specialties:
        return str(profile.specialties[0])
    return "primary_care"


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
    session = scope.session
    profile = identity_repo.clinician_profile(session, clinician_id)
    specialty = visit_intake.get("specialty") or "primary_care"
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
        "clinician": {
            "licenses": [
                {"state": lic.state, "kind": lic.kind}
                for lic in identity_repo.licenses_of(session, clinician_id)
            ],
            "dea_registrations": [
                {"state": d.state, "schedules": list(d.schedules)}
                for d in identity_repo.dea_of(session, clinician_id)
            ],
            "specialty": specialty,
            "video_capable": profile.video_capable if profile is not None else True,
        },
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
    access.readable_clinician(scope, clinician_id)
    if patient.org_id != actor.org_id:
        raise not_found("patient")
    # Booking puts the clinician on the care team, which outlasts any break-glass grant.
    access.require_standing_relationship(scope, patient, "booking a visit")
    slot_start = slot_start.astimezone(UTC)
    window = _offering_window(scope, clinician_id, slot_start)
    state = identity.check_state(intake.located_state, "located_state")
    stored = {**intake.stored(), "specialty": _specialty(scope, clinician_id, intake.specialty)}
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
    _add_participant(scope, visit, ParticipantRole.PATIENT, patient.user_id, "Patient")
    _add_participant(scope, visit, ParticipantRole.CLINICIAN, clinician_id, "Clinician")
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


def _add_participant(
    scope: Scope, visit: Visit, role: ParticipantRole, user_id: uuid.UUID | None, name: str
) -> Participant:
    participant = Participant(
        visit_id=visit.id,
        role=role.value,
        user_id=user_id,
        display_name=name,
        state=ParticipantState.INVITED.value,
        video_active=False,
        created_at=scope.clock.now(),
    )
    scope.session.add(participant)
    scope.session.flush()
    return participant


def _tell_parties(scope: Scope, visit: Visit, kind: str, title: str) -> None:
    patient = identity_repo.patient_by_id(scope.session, visit.patient_id)
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
    window = _offering_window(scope, visit.clinician_id, slot_start)
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


# --- join links -----------------------------------------------------------------------------


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
    visit = readable_visit(scope, visit_id, audit=False)
    participant = repository.participant_of_user(scope.session, visit.id, actor.user_id)
    if participant is None or participant.state == ParticipantState.REMOVED.value:
        access.record_denial(scope, "visit", visit_id)
        raise not_found("visit")
    if VisitStatus(visit.status) not in model.OPEN_STATUSES:
        raise DomainError(ErrorCode.INVALID_STATE, "the visit is no longer open")
    return IssuedLink(participant, _issue_token(scope, visit, participant, settings))


# --- participants holding a link ------------------------------------------------------------


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


def _identify(scope: Scope, participant: Participant, visit: Visit) -> Actor | None:
    if participant.user_id is not None:
        user = identity_repo.user_by_id(scope.session, participant.user_id)
        if user is not None and user.active:
            # A clinician's link is issued only to an MFA-verified session of that clinician.
            actor = identity.system_actor_for(scope, user)
            scope.act_as(actor)
            return actor
    scope.audit.identify(participant.id, GUEST_ROLE, visit.org_id)
    return None


def _require_host(scope: Scope, ctx: ParticipantContext) -> None:
    if not ctx.is_host:
        access.record_denial(scope, "visit", ctx.visit.id)
        raise DomainError(ErrorCode.FORBIDDEN, "only the visit's clinician may do that")


def _peer(scope: Scope, ctx: ParticipantContext, participant_id: uuid.UUID) -> Participant:
    found = repository.participant_by_id(scope.session, participant_id)
    if found is None or found.visit_id != ctx.visit.id:
        access.record_denial(scope, "visit_participant", participant_id)
        raise not_found("participant")
    return found


@contextmanager
def _acting_for_decision(scope: Scope, ctx: ParticipantContext) -> Iterator[None]:
    """Decisions need an actor who may read the patient: the patient themself, or -- for a
    patient without an account -- the visit's clinician, on whose behalf the link was made."""
    previous = scope.actor
    if ctx.actor is None or ctx.actor.role is not Role.PATIENT:
        user = identity_repo.user_by_id(scope.session, ctx.visit.clinician_id)
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
    _require_host(scope, ctx)
    if role not in model.GUEST_ROLES:
        raise DomainError(ErrorCode.INVALID_INPUT, "that role cannot be invited", field="role")
    participant = _add_participant(scope, ctx.visit, role, None, display_name.strip()[:120])
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
    changed = state != _current_state(scope, visit)
    if changed:
        with _acting_for_decision(scope, ctx):
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
    current = _current_decision(scope, visit)
    planned, reason = synchronous_choice(current)
    scope.audit.record(
        Action.UPDATE,
        "visit",
        visit.id,
        patient_id=visit.patient_id,
        detail={"event": "location_confirmed", "state_changed": changed},
    )
    return LocationOutcome(planned is not None, changed, visit.current_decision_id, planned, reason)


def _current_state(scope: Scope, visit: Visit) -> str:
    return _state_of(visit, _decision_record(scope, visit))


def _current_decision(scope: Scope, visit: Visit) -> Decision:
    return _decision_of(_decision_record(scope, visit))


def _decision_record(scope: Scope, visit: Visit) -> DecisionRecord | None:
    return decision_record(scope, visit.current_decision_id)


def _state_of(visit: Visit, record: DecisionRecord | None) -> str:
    if record is None:
        return visit.located_state
    return str(record.masked_facts["patient"]["location_state"])


def _decision_of(record: DecisionRecord | None) -> Decision:
    if record is None:
        raise DomainError(ErrorCode.INTEGRITY_ERROR, "the visit's decision is missing")
    return Decision.model_validate(record.decision)


# --- consent --------------------------------------------------------------------------------


def consent_requirements(decision: Decision, modality: str) -> list[dict[str, str]]:
    return [
        {"detail": r.detail, "citation": r.citation, "modality": r.modality or ""}
        for r in decision.requirements
        if r.kind == "consent" and r.modality in (None, modality)
    ]


def consent_outstanding(scope: Scope, visit: Visit) -> list[dict[str, str]]:
    """Consent the current decision requires that this patient has not given for the state
    they are in (consent is taken before the first telehealth visit, then stands)."""
    record = _decision_record(scope, visit)
    needed = consent_requirements(_decision_of(record), visit.planned_modality)
    if not needed:
        return []
    given = repository.consents_of_patient(scope.session, visit.patient_id)
    return _not_given(needed, _state_of(visit, record), given)


def _not_given(
    needed: list[dict[str, str]], state: str, given: Sequence[Consent]
) -> list[dict[str, str]]:
    have = {(c.located_state, c.modality or "") for c in given}
    return [r for r in needed if (state, r["modality"]) not in have]


@dataclass
class ConsentStatus:
    given: list[dict[str, Any]]
    outstanding: list[dict[str, str]]


def consent_status(scope: Scope, visit: Visit) -> ConsentStatus:
    """:func:`consents_view` and :func:`consent_outstanding` together, reading the patient's
    consents and the visit's decision once."""
    given = repository.consents_of_patient(scope.session, visit.patient_id)
    record = _decision_record(scope, visit)
    needed = consent_requirements(_decision_of(record), visit.planned_modality)
    return ConsentStatus(
        given=_consent_rows(visit, given),
        outstanding=_not_given(needed, _state_of(visit, record), given),
    )


def record_consent(
    scope: Scope, ctx: ParticipantContext, *, given_by: str, method: ConsentMethod
) -> list[Consent]:
    """The patient signs (written, in the page) or the clinician records verbal consent."""
    if ctx.role is ParticipantRole.PATIENT:
        if method is not ConsentMethod.WRITTEN:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "a patient consents in writing here", field="method"
            )
    elif not ctx.is_host:
        raise DomainError(ErrorCode.FORBIDDEN, "only the patient or the clinician records consent")
    visit = ctx.visit
    outstanding = consent_outstanding(scope, visit)
    if not outstanding:
        raise DomainError(ErrorCode.ALREADY_EXISTS, "no consent is outstanding for this visit")
    state = _current_state(scope, visit)
    rows = []
    for requirement in outstanding:
        row = Consent(
            patient_id=visit.patient_id,
            visit_id=visit.id,
            modality=requirement["modality"] or None,
            located_state=state,
            method=method.value,
            given_by=given_by,
            recorded_by_participant=ctx.participant.id,
            requirement=requirement["detail"][:500],
            citation=requirement["citation"][:500],
            obtained_at=scope.clock.now(),
        )
        scope.session.add(row)
        rows.append(row)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE,
        "visit_consent",
        rows[0].id,
        patient_id=visit.patient_id,
        detail={"method": method.value, "count": len(rows)},
    )
    return rows


# --- pre-call test --------------------------------------------------------------------------


@dataclass(frozen=True)
class PrecallResult:
    test: PrecallTest
    video_feasible: bool
    offered: list[str]
    reason: str | None


def record_precall(
    scope: Scope,
    ctx: ParticipantContext,
    *,
    camera_ok: bool,
    microphone_ok: bool,
    down_mbps: float,
    up_mbps: float,
    rtt_ms: float,
    loss_pct: float,
) -> PrecallResult:
    visit = ctx.visit
    bandwidth = {"down_mbps": down_mbps, "up_mbps": up_mbps, "rtt_ms": rtt_ms, "loss_pct": loss_pct}
    decision_id = None
    offered: list[str] = []
    if ctx.role is ParticipantRole.PATIENT:
        # The patient's link decides video feasibility: fed to the engine as bandwidth facts.
        with _acting_for_decision(scope, ctx):
            facts = build_facts(
                scope,
                visit.intake,
                clinician_id=visit.clinician_id,
                located_state=_current_state(scope, visit),
                on=scope.clock.now().date(),
                bandwidth=bandwidth,
                video_capable=camera_ok and visit.intake["video_capable"],
            )
            decision, record = decide_and_record(scope, facts, patient_id=visit.patient_id)
        decision_id = record.id
        planned, reason = synchronous_choice(decision)
        feasible = planned == AUDIO_VIDEO and microphone_ok
        if not microphone_ok:
            reason = "the microphone check failed"
        if not feasible:
            offered = alternatives(decision)
            visit.current_decision_id = record.id
            if planned is not None:
                visit.planned_modality = AUDIO_ONLY
            visit.fallback_reason = reason
    else:
        feasible = camera_ok and microphone_ok
        reason = None if feasible else "the camera or microphone check failed"
    test = PrecallTest(
        visit_id=visit.id,
        participant_id=ctx.participant.id,
        camera_ok=camera_ok,
        microphone_ok=microphone_ok,
        down_mbps=down_mbps,
        up_mbps=up_mbps,
        rtt_ms=rtt_ms,
        loss_pct=loss_pct,
        video_feasible=feasible,
        decision_id=decision_id,
        reason=reason,
        created_at=scope.clock.now(),
    )
    scope.session.add(test)
    ctx.participant.precall_ok = feasible
    scope.session.flush()
    scope.audit.record(
        Action.CREATE,
        "visit_precall",
        test.id,
        patient_id=visit.patient_id,
        detail={"video_feasible": feasible},
    )
    return PrecallResult(test, feasible, offered, reason)


# --- waiting room ---------------------------------------------------------------------------


def enter_waiting_room(scope: Scope, ctx: ParticipantContext) -> Participant:
    """Everyone but the visit's clinician waits to be admitted; there is no other way in."""
    participant = ctx.participant
    state = ParticipantState(participant.state)
    if state in (ParticipantState.WAITING, ParticipantState.ADMITTED):
        return participant
    if ctx.is_host:
        _admit(scope, ctx.visit, participant)
        return participant
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
    if synchronous_choice(_current_decision(scope, ctx.visit))[0] is None:
        raise DomainError(
            ErrorCode.INVALID_STATE, "the rules do not allow this visit where you are now"
        )
    if consent_outstanding(scope, ctx.visit):
        raise DomainError(ErrorCode.PRECONDITION_FAILED, "informed consent is needed first")


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
    _require_host(scope, ctx)
    target = _peer(scope, ctx, participant_id)
    if target.state != ParticipantState.WAITING.value:
        raise DomainError(ErrorCode.INVALID_STATE, "that participant is not waiting")
    visit = ctx.visit
    _admit(scope, visit, target)
    if visit.status == VisitStatus.BOOKED.value and target.role == ParticipantRole.PATIENT.value:
        visit.status = VisitStatus.IN_PROGRESS.value
        visit.started_at = scope.clock.now()
        visit.updated_at = scope.clock.now()
        _change_modality(scope, visit, _modality_now(scope, visit))
    return target


def remove(scope: Scope, ctx: ParticipantContext, participant_id: uuid.UUID) -> Participant:
    _require_host(scope, ctx)
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


def waiting_room(scope: Scope, ctx: ParticipantContext) -> list[dict[str, Any]]:
    """Who is waiting, with intake status: what the clinician needs before admitting."""
    _require_host(scope, ctx)
    visit = ctx.visit
    outstanding = bool(consent_outstanding(scope, visit))
    tests = {t.participant_id: t for t in repository.precall_tests(scope.session, visit.id)}
    rows = []
    for p in repository.participants_of(scope.session, visit.id):
        if p.id == ctx.participant.id:
            continue
        test = tests.get(p.id)
        rows.append(
            {
                "id": str(p.id),
                "role": p.role,
                "display_name": p.display_name,
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


def position(scope: Scope, ctx: ParticipantContext) -> int | None:
    waiting = {
        str(p.id): ensure_utc(p.waiting_since)
        for p in repository.participants_of(scope.session, ctx.visit.id)
        if p.state == ParticipantState.WAITING.value and p.waiting_since is not None
    }
    return model.queue_position(waiting, str(ctx.participant.id))


# --- session record -------------------------------------------------------------------------


def record_presence(scope: Scope, participant_id: uuid.UUID, kind: PresenceKind) -> None:
    participant = repository.participant_by_id(scope.session, participant_id)
    if participant is None:
        return
    scope.session.add(
        PresenceEvent(
            visit_id=participant.visit_id,
            participant_id=participant.id,
            kind=kind.value,
            at=scope.clock.now(),
        )
    )
    if kind is PresenceKind.LEAVE and participant.video_active:
        participant.video_active = False
        _refresh_modality(scope, participant.visit_id)
    scope.audit.record(
        Action.UPDATE, "visit_presence", participant.id, detail={"event": kind.value}
    )


def record_media(scope: Scope, participant_id: uuid.UUID, video_active: bool) -> str | None:
    """A participant's video started or stopped flowing; returns the visit's new modality when
    it changed."""
    participant = repository.participant_by_id(scope.session, participant_id)
    if participant is None or participant.video_active == video_active:
        return None
    participant.video_active = video_active
    return _refresh_modality(scope, participant.visit_id)


def _modality_now(scope: Scope, visit: Visit) -> str:
    video = {
        p.role: p.video_active
        for p in repository.participants_of(scope.session, visit.id)
        if p.state == ParticipantState.ADMITTED.value and p.role in ("patient", "clinician")
    }
    return model.visit_modality(video)


def _refresh_modality(scope: Scope, visit_id: uuid.UUID) -> str | None:
    visit = repository.visit_by_id(scope.session, visit_id)
    if visit is None or visit.status != VisitStatus.IN_PROGRESS.value:
        return None
    modality = _modality_now(scope, visit)
    changes = repository.modality_changes(scope.session, visit.id)
    if changes and changes[-1].modality == modality:
        return None
    _change_modality(scope, visit, modality)
    scope.audit.record(
        Action.UPDATE,
        "visit",
        visit.id,
        patient_id=visit.patient_id,
        detail={"event": "modality", "modality": modality},
    )
    return modality


def _change_modality(scope: Scope, visit: Visit, modality: str) -> None:
    scope.session.add(ModalityChangeRow(visit_id=visit.id, modality=modality, at=scope.clock.now()))
    scope.session.flush()


def session_segments(scope: Scope, visit: Visit) -> list[model.Segment]:
    rows = repository.modality_changes(scope.session, visit.id)
    changes = [model.ModalityChange(ensure_utc(r.at), r.modality) for r in rows]
    end = ensure_utc(visit.ended_at) if visit.ended_at else None
    return model.segments(changes, end)


def end_visit(
    scope: Scope, ctx: ParticipantContext | None, visit: Visit, *, em_code: str | None
) -> Visit:
    if ctx is not None:
        _require_host(scope, ctx)
    model.check_transition(VisitStatus(visit.status), VisitStatus.COMPLETED)
    now = scope.clock.now()
    visit.status = VisitStatus.COMPLETED.value
    visit.ended_at = now
    visit.held_slot = visit.slot_start  # the slot stays taken by a visit that happened
    visit.updated_at = now
    visit.version += 1
    for participant in repository.participants_of(scope.session, visit.id):
        participant.token_hash = None
    result = code_visit(scope, visit, em_code=em_code)
    visit.coding = result.model_dump(mode="json") if result is not None else None
    scope.audit.record(
        Action.UPDATE, "visit", visit.id, patient_id=visit.patient_id, detail={"event": "ended"}
    )
    return visit


def encounter_record(scope: Scope, visit: Visit, *, em_code: str | None) -> Encounter | None:
    segs = [s for s in session_segments(scope, visit) if s.end is not None and s.end > s.start]
    if not segs or visit.started_at is None or visit.ended_at is None:
        return None
    intake = visit.intake
    minutes = int((ensure_utc(visit.ended_at) - ensure_utc(visit.started_at)).total_seconds() // 60)
    new_patient = not intake.get("established", True)
    return Encounter.model_validate(
        {
            "date_of_service": ensure_utc(visit.started_at).date(),
            "payer": intake["payer"],
            "patient": {
                "location_state": _current_state(scope, visit),
                "setting": intake["setting"],
            },
            "segments": [{"modality": s.modality, "start": s.start, "end": s.end} for s in segs],
            "service": {
                "kind": "em",
                "new_patient": new_patient,
                "em_code": em_code or ("99203" if new_patient else "99213"),
                "minutes": minutes,
            },
            "source": {"kind": "visit", "id": str(visit.id)},
        }
    )


def code_visit(scope: Scope, visit: Visit, *, em_code: str | None) -> CodingResult | None:
    record = encounter_record(scope, visit, em_code=em_code)
    if record is None:
        return None
    return code_encounter(record, scope.ports.codeset)


# --- notes ----------------------------------------------------------------------------------


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
    note = repository.note_of(scope.session, visit.id, lock=True)
    if note is None:
        raise DomainError(ErrorCode.INVALID_STATE, "there is no note to sign")
    if note.signed_at is not None:
        raise DomainError(ErrorCode.INVALID_STATE, "the note is already signed")
    now = scope.clock.now()
    note.signed_at = now
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
    note = repository.note_of(scope.session, visit.id)
    if note is None:
        return None
    return {
        "id": str(note.id),
        "body": note.body,
        "version": note.version,
        "signed_at": note.signed_at,
        "signed_late": note.signed_late,
        "amendments": [
            {"body": a.body, "created_at": a.created_at}
            for a in repository.amendments_of(scope.session, note.id)
        ],
    }


def session_record(scope: Scope, visit: Visit) -> dict[str, Any]:
    """The session window, presence, modality segments and billing: the record of the visit."""
    return {
        "started_at": visit.started_at,
        "ended_at": visit.ended_at,
        "presence": [
            {"participant_id": str(e.participant_id), "kind": e.kind, "at": e.at}
            for e in repository.presence_of(scope.session, visit.id)
        ],
        "segments": [
            {"modality": s.modality, "start": s.start, "end": s.end}
            for s in session_segments(scope, visit)
        ],
        "billing": visit.coding,
    }


def consents_view(scope: Scope, visit: Visit) -> list[dict[str, Any]]:
    return _consent_rows(visit, repository.consents_of_patient(scope.session, visit.patient_id))


def _consent_rows(visit: Visit, given: Sequence[Consent]) -> list[dict[str, Any]]:
    return [
        {
            "method": c.method,
            "given_by": c.given_by,
            "obtained_at": c.obtained_at,
            "located_state": c.located_state,
            "modality": c.modality,
            "requirement": c.requirement,
            "citation": c.citation,
            "this_visit": c.visit_id == visit.id,
        }
        for c in given
    ]


def participants_view(scope: Scope, visit: Visit) -> list[dict[str, Any]]:
    return [
        {"id": str(p.id), "role": p.role, "display_name": p.display_name, "state": p.state}
        for p in repository.participants_of(scope.session, visit.id)
    ]


def window_time(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "times are HH:MM", field="time") from exc
