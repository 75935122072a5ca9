"""The record of a visit's session: presence, media, modality segments, ending the visit and
the encounter it becomes for the coding engine."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from telehealth.audit.model import Action
from telehealth.clock import ensure_utc
from telehealth.coding.encounter import CodingResult, EmBasis, Encounter
from telehealth.coding.engine import code_encounter
from telehealth.errors import DomainError, ErrorCode
from telehealth.scope import Scope
from telehealth.visits import model, repository
from telehealth.visits.booking import current_state
from telehealth.visits.links import ParticipantContext, require_host
from telehealth.visits.model import ParticipantState, PresenceKind, VisitStatus
from telehealth.visits.tables import ModalityChangeRow, Participant, PresenceEvent, Visit


def record_presence(
    scope: Scope, participant_id: uuid.UUID, kind: PresenceKind, connection: str | None = None
) -> None:
    """A participant's socket ``connection`` joined or left (or they were admitted or
    removed). A join starts the socket's heartbeat and closes the participant's other sockets
    whose heartbeat went stale; a leave closes its socket, once, however many write it."""
    participant = repository.participant_by_id(scope.session, participant_id)
    if participant is None:
        return
    now = scope.clock.now()
    if (
        kind is PresenceKind.LEAVE
        and connection is not None
        and not repository.close_socket(scope.session, connection)
    ):
        return  # closed already: its instance was taken for dead meanwhile
    if kind is PresenceKind.JOIN and connection is not None:
        for stale in repository.open_joins(
            scope.session, participant_id=participant.id, seen_before=now - _stale(scope)
        ):
            _close_lost(scope, stale)
    _write_presence(scope, participant, kind, now, connection)


def _write_presence(
    scope: Scope, participant: Participant, kind: PresenceKind, at: datetime, connection: str | None
) -> None:
    scope.session.add(
        PresenceEvent(
            visit_id=participant.visit_id,
            participant_id=participant.id,
            kind=kind.value,
            at=at,
            connection_id=connection,
            last_seen=at if kind is PresenceKind.JOIN and connection is not None else None,
        )
    )
    scope.session.flush()
    # Video stops with the participant's last open socket, not with one of several.
    if (
        kind is PresenceKind.LEAVE
        and participant.video_active
        and not repository.open_joins(scope.session, participant_id=participant.id)
    ):
        participant.video_active = False
        _refresh_modality(scope, participant.visit_id)
    scope.audit.record(
        Action.UPDATE, "visit_presence", participant.id, detail={"event": kind.value}
    )


def _stale(scope: Scope) -> timedelta:
    return timedelta(seconds=scope.settings.visits.presence_stale_seconds)


def _close_lost(scope: Scope, join: PresenceEvent) -> bool:
    """Writes the leave of a socket whose heartbeat stopped (its instance died), at its last
    heartbeat: the last moment it is known to have been open. False when someone else closed
    it first, or it beat again meanwhile."""
    seen = join.last_seen
    if seen is None or not repository.claim_close(scope.session, join.id, seen):
        return False
    participant = repository.participant_by_id(scope.session, join.participant_id)
    if participant is None:
        return False
    _write_presence(scope, participant, PresenceKind.LEAVE, ensure_utc(seen), join.connection_id)
    return True


def heartbeat(scope: Scope, connections: Sequence[str]) -> int:
    """The instance holding the sockets ``connections`` says they are open now."""
    return repository.beat(scope.session, connections, scope.clock.now())


def sweep_lost_sockets(scope: Scope) -> int:
    """Closes every socket whose heartbeat is older than the stale window and that has no
    leave: its instance died under it. Returns how many leaves it wrote."""
    cutoff = scope.clock.now() - _stale(scope)
    return sum(
        _close_lost(scope, join)
        for join in repository.open_joins(scope.session, seen_before=cutoff)
    )


def record_media(scope: Scope, participant_id: uuid.UUID, video_active: bool) -> str | None:
    """A participant's video started or stopped flowing; returns the visit's new modality when
    it changed."""
    participant = repository.participant_by_id(scope.session, participant_id)
    if participant is None or participant.video_active == video_active:
        return None
    participant.video_active = video_active
    return _refresh_modality(scope, participant.visit_id)


def modality_now(scope: Scope, visit: Visit) -> str:
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
    modality = modality_now(scope, visit)
    changes = repository.modality_changes(scope.session, visit.id)
    if changes and changes[-1].modality == modality:
        return None
    change_modality(scope, visit, modality)
    scope.audit.record(
        Action.UPDATE,
        "visit",
        visit.id,
        patient_id=visit.patient_id,
        detail={"event": "modality", "modality": modality},
    )
    return modality


def change_modality(scope: Scope, visit: Visit, modality: str) -> None:
    scope.session.add(ModalityChangeRow(visit_id=visit.id, modality=modality, at=scope.clock.now()))
    scope.session.flush()


def session_segments(scope: Scope, visit: Visit) -> list[model.Segment]:
    rows = repository.modality_changes(scope.session, visit.id)
    changes = [model.ModalityChange(ensure_utc(r.at), r.modality) for r in rows]
    end = ensure_utc(visit.ended_at) if visit.ended_at else None
    return model.segments(changes, end)


def end_visit(
    scope: Scope,
    ctx: ParticipantContext | None,
    visit: Visit,
    *,
    em_code: str | None,
    em_basis: EmBasis | None = None,
) -> Visit:
    """Ends the visit and codes it. Without a chosen E/M level the coding carries a finding
    and no E/M line; the clinician chooses the level afterwards (:func:`choose_em`)."""
    if ctx is not None:
        require_host(scope, ctx)
    model.check_transition(VisitStatus(visit.status), VisitStatus.COMPLETED)
    if em_code is not None:
        _check_offered(scope, visit, em_code)
    now = scope.clock.now()
    visit.status = VisitStatus.COMPLETED.value
    visit.ended_at = now
    visit.held_slot = visit.slot_start  # the slot stays taken by a visit that happened
    visit.updated_at = now
    visit.version += 1
    for participant in repository.participants_of(scope.session, visit.id):
        participant.token_hash = None
    _record_choice(visit, em_code, em_basis)
    _code(scope, visit)
    scope.audit.record(
        Action.UPDATE, "visit", visit.id, patient_id=visit.patient_id, detail={"event": "ended"}
    )
    return visit


def choose_em(scope: Scope, visit: Visit, em_code: str, em_basis: EmBasis) -> Visit:
    """The E/M level chosen after a visit that ended without one; the visit is coded again."""
    if visit.status != VisitStatus.COMPLETED.value:
        raise DomainError(ErrorCode.INVALID_STATE, "the E/M level is chosen once the visit ended")
    if visit.em_code is not None:
        raise DomainError(ErrorCode.INVALID_STATE, "the E/M level was already chosen")
    _check_offered(scope, visit, em_code)
    _record_choice(visit, em_code, em_basis)
    _code(scope, visit)
    visit.updated_at = scope.clock.now()
    visit.version += 1
    scope.audit.record(
        Action.UPDATE,
        "visit",
        visit.id,
        patient_id=visit.patient_id,
        detail={"event": "em_chosen", "em_code": em_code, "em_basis": em_basis},
    )
    return visit


def _check_offered(scope: Scope, visit: Visit, em_code: str) -> None:
    if em_code not in {choice["code"] for choice in em_choices(scope, visit)}:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "choose one of the levels offered", field="em_code"
        )


def _record_choice(visit: Visit, em_code: str | None, em_basis: EmBasis | None) -> None:
    visit.em_code = em_code
    visit.em_basis = em_basis if em_code is not None else None


def _code(scope: Scope, visit: Visit) -> None:
    result = code_visit(scope, visit)
    visit.coding = result.model_dump(mode="json") if result is not None else None


def session_minutes(visit: Visit) -> int | None:
    """Whole minutes from the patient's first admission to the end of the visit."""
    if visit.ended_at is None:
        return None
    return _minutes_since_start(visit, ensure_utc(visit.ended_at))


def _minutes_since_start(visit: Visit, until: datetime) -> int | None:
    if visit.started_at is None:
        return None
    return int((until - ensure_utc(visit.started_at)).total_seconds() // 60)


def two_way_media(
    scope: Scope,
    visit: Visit,
    presence: Sequence[PresenceEvent],
    segments: list[model.Segment],
) -> bool:
    """Whether the record (the visit's ``presence`` and modality ``segments``, which the
    caller has read) shows the patient and the clinician connected with media together."""
    return _two_way(visit, _marks(scope, visit, presence), segments)


def _two_way(visit: Visit, marks: list[model.PresenceMark], segments: list[model.Segment]) -> bool:
    end = ensure_utc(visit.ended_at) if visit.ended_at else None
    return model.two_way_media(marks, segments, end)


def _marks(
    scope: Scope, visit: Visit, presence: Sequence[PresenceEvent]
) -> list[model.PresenceMark]:
    roles = {p.id: p.role for p in repository.participants_of(scope.session, visit.id)}
    return [
        model.PresenceMark(
            str(e.participant_id),
            roles[e.participant_id],
            PresenceKind(e.kind),
            ensure_utc(e.at),
            e.connection_id,
        )
        for e in presence
    ]


def encounter_record(scope: Scope, visit: Visit) -> Encounter | None:
    segments = session_segments(scope, visit)
    segs = [s for s in segments if s.end is not None and s.end > s.start]
    minutes = session_minutes(visit)
    if not segs or visit.started_at is None or minutes is None:
        return None
    intake = visit.intake
    return Encounter.model_validate(
        {
            "date_of_service": ensure_utc(visit.started_at).date(),
            "payer": intake["payer"],
            "patient": {
                "location_state": current_state(scope, visit),
                "setting": intake["setting"],
            },
            "segments": [{"modality": s.modality, "start": s.start, "end": s.end} for s in segs],
            "two_way_media": two_way_media(
                scope, visit, repository.presence_of(scope.session, visit.id), segments
            ),
            "service": {
                "kind": "em",
                "new_patient": new_patient(visit),
                "em_code": visit.em_code,
                "em_basis": visit.em_basis,
                "minutes": minutes,
            },
            "source": {"kind": "visit", "id": str(visit.id)},
        }
    )


def new_patient(visit: Visit) -> bool:
    return not visit.intake.get("established", True)


def code_visit(scope: Scope, visit: Visit) -> CodingResult | None:
    record = encounter_record(scope, visit)
    if record is None:
        return None
    return code_encounter(record, scope.ports.codeset)


def em_choices(scope: Scope, visit: Visit) -> list[dict[str, Any]]:
    """The office E/M levels the clinician may choose for the visit's patient (new or
    established), each with its descriptor and its total-time threshold on the visit's date."""
    on = ensure_utc(visit.started_at or visit.slot_start).date()
    codes = scope.ports.codeset.codes
    status = "new" if new_patient(visit) else "established"
    return [
        {"code": code, "descriptor": codes[code].descriptor, "minutes": minutes}
        for code, minutes in sorted(scope.ports.codeset.total_time_thresholds(on).items())
        if codes[code].patient_status == status
    ]


def em_offer(scope: Scope, visit: Visit) -> dict[str, Any]:
    """What the room's End dialog offers the clinician: the levels of :func:`em_choices` and
    the session's length so far, measured as :func:`session_minutes` measures it at the end."""
    return {
        "minutes": _minutes_since_start(visit, scope.clock.now()),
        "new_patient": new_patient(visit),
        "choices": em_choices(scope, visit),
    }


def session_record(scope: Scope, visit: Visit) -> dict[str, Any]:
    """The session window, presence, modality segments and billing: the record of the visit."""
    presence = repository.presence_of(scope.session, visit.id)
    marks = _marks(scope, visit, presence)
    segments = session_segments(scope, visit)
    return {
        "started_at": visit.started_at,
        "ended_at": visit.ended_at,
        "presence": [
            {
                "participant_id": str(e.participant_id),
                "kind": e.kind,
                "at": e.at,
                "connection": e.connection_id,
            }
            for e in presence
        ],
        # The times a participant was connected by no socket until they came back.
        "gaps": [
            {
                "participant_id": g.participant,
                "role": g.role,
                "start": g.start,
                "end": g.end,
                "seconds": g.seconds,
            }
            for g in model.presence_gaps(marks)
        ],
        "segments": [{"modality": s.modality, "start": s.start, "end": s.end} for s in segments],
        "minutes": session_minutes(visit),
        "two_way_media": _two_way(visit, marks, segments) if visit.ended_at else None,
        "em_code": visit.em_code,
        "em_basis": visit.em_basis,
        "billing": visit.coding,
    }


def visits_in_progress(session: Session) -> int:
    """How many visits are in progress now, in every organization: a count, no visit's data
    (the ``telehealth_visits_in_progress`` gauge)."""
    return repository.count_in_progress(session)
