"""HTTP routes of the visits capability.

Two audiences: signed-in users (``/v1/visits``, availability, slots) and visit participants
holding a join link, who present its token in the ``X-Visit-Token`` header
(``/v1/visit-session``) or in the signaling socket's first message. Tokens never travel in
URLs: links carry them in the fragment, which browsers do not send.
"""

from __future__ import annotations

import os
import uuid
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response, WebSocket
from fastapi.security import APIKeyHeader

from telehealth import bounds
from telehealth.audit.model import Action
from telehealth.errors import DomainError, ErrorCode
from telehealth.scope import Scope
from telehealth.visits import (
    access,
    availability,
    booking,
    consent,
    links,
    messages,
    model,
    notes,
    pages,
    relay,
    repository,
    session_record,
    waiting_room,
)
from telehealth.visits.model import ConsentMethod, MessageAudience, ParticipantRole
from telehealth.visits.precall import record_precall
from telehealth.visits.runtime import RuntimeDep
from telehealth.visits.schemas import (
    AmendmentIn,
    BookingIn,
    ConsentIn,
    EndIn,
    InviteIn,
    LinkOut,
    LocationIn,
    LocationOut,
    MessageIn,
    MessageOut,
    NoteIn,
    NoteOut,
    ParticipantOut,
    PrecallIn,
    PrecallOut,
    ProbeOut,
    RescheduleIn,
    SessionOut,
    SlotOut,
    VisitDetailOut,
    VisitOut,
    WaitingMessageOut,
    WindowIn,
    WindowOut,
)
from telehealth.visits.tables import AvailabilityWindow, Participant, Visit, VisitNote
from telehealth.web.auth import ActorDep, ScopeDep
from telehealth.web.scoped import ScopedRoute, Services

router = APIRouter(route_class=ScopedRoute)
# The pre-call upload probe streams its body and counts it against its own limit
# (TELEHEALTH_PROBE_MAX_BYTES), not the application's body limit.
PROBE = "/v1/visit-session/probe"
TOKEN_HEADER = "x-visit-token"  # noqa: S105 - a header name
JOIN_PATH = "/visits/join"


# Declared in the OpenAPI document only; the service checks the token.
_PARTICIPANT_TOKEN = APIKeyHeader(
    name=TOKEN_HEADER, auto_error=False, description="a visit participant's link token"
)


def current_participant(
    request: Request,
    scope: ScopeDep,
    _token: Annotated[str | None, Depends(_PARTICIPANT_TOKEN)],
) -> links.ParticipantContext:
    return links.resolve_participant(scope, request.headers.get(TOKEN_HEADER))


ParticipantDep = Annotated[links.ParticipantContext, Depends(current_participant)]


# --- availability and slots -----------------------------------------------------------------


def _window_out(row: AvailabilityWindow) -> WindowOut:
    return WindowOut(
        id=row.id,
        clinician_id=row.clinician_id,
        time_zone=row.time_zone,
        weekday=row.weekday,
        start=row.start_time.strftime("%H:%M"),
        end=row.end_time.strftime("%H:%M"),
        slot_minutes=row.slot_minutes,
    )


@router.post("/v1/visit-availability", tags=["visits"], response_model=WindowOut, status_code=201)
def add_availability(body: WindowIn, actor: ActorDep, scope: ScopeDep) -> WindowOut:
    window = model.WeeklyWindow(
        body.time_zone,
        body.weekday,
        availability.window_time(body.start),
        availability.window_time(body.end),
        body.slot_minutes,
    )
    return _window_out(availability.add_window(scope, body.clinician_id, window))


@router.get("/v1/visit-availability", tags=["visits"], response_model=list[WindowOut])
def list_availability(clinician_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> list[WindowOut]:
    return [_window_out(r) for r in availability.windows(scope, clinician_id)]


@router.delete("/v1/visit-availability/{window_id}", tags=["visits"], status_code=204)
def delete_availability(window_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> None:
    availability.remove_window(scope, window_id)


@router.get("/v1/visit-slots", tags=["visits"], response_model=list[SlotOut])
def list_slots(
    clinician_id: uuid.UUID,
    start: bounds.Moment,
    end: bounds.Moment,
    actor: ActorDep,
    scope: ScopeDep,
) -> list[SlotOut]:
    rows = availability.windows(scope, clinician_id)
    tz_name = rows[0].time_zone if rows else "UTC"
    tz = ZoneInfo(tz_name)
    return [
        SlotOut(start=s, minutes=m, local_start=s.astimezone(tz).isoformat(), time_zone=tz_name)
        for s, m in availability.free_slots(scope, clinician_id, start, end)
    ]


# --- visits ---------------------------------------------------------------------------------


def _visit_out(visit: Visit) -> VisitOut:
    return VisitOut(
        id=visit.id,
        patient_id=visit.patient_id,
        clinician_id=visit.clinician_id,
        status=visit.status,
        slot_start=visit.slot_start,
        slot_end=visit.slot_end,
        time_zone=visit.time_zone,
        located_state=visit.located_state,
        decision_id=visit.decision_id,
        current_decision_id=visit.current_decision_id,
        planned_modality=visit.planned_modality,
        fallback_reason=visit.fallback_reason,
        version=visit.version,
    )


def visit_detail(scope: Scope, visit: Visit) -> VisitDetailOut:
    participants = links.participants_view(scope, visit)
    consented = consent.consent_status(scope, visit)
    return VisitDetailOut(
        **_visit_out(visit).model_dump(),
        participants=participants,
        consents=consented.given,
        consent_outstanding=consented.outstanding,
        consent_signature_due=consented.signature_due,
        session=session_record.session_record(scope, visit),
        note=notes.note_view(scope, visit),
        messages=_messages_out(messages.messages_view(scope, visit)),
    )


def _messages_out(views: list[dict[str, Any]]) -> list[MessageOut]:
    return [MessageOut.model_validate(view) for view in views]


@router.post("/v1/visits", tags=["visits"], response_model=VisitOut, status_code=201)
def book_visit(body: BookingIn, actor: ActorDep, scope: ScopeDep) -> VisitOut:
    intake = booking.Intake(
        located_state=body.located_state,
        acuity=body.acuity,
        purpose=body.purpose,
        specialty=body.specialty,
        payer=body.payer,
        setting=body.setting,
        established=body.established,
        last_in_person_visit=body.last_in_person_visit,
        video_capable=body.video_capable,
        consents_to_video=body.consents_to_video,
        controlled_substance=(
            body.controlled_substance.model_dump() if body.controlled_substance else None
        ),
    )
    visit, _decision = booking.book(
        scope,
        patient_id=body.patient_id,
        clinician_id=body.clinician_id,
        slot_start=body.slot_start,
        intake=intake,
    )
    return _visit_out(visit)


@router.get("/v1/visits", tags=["visits"], response_model=list[VisitOut])
def list_visits(
    actor: ActorDep,
    scope: ScopeDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, bounds.limit(200)] = 50,
    offset: bounds.Offset = 0,
) -> list[VisitOut]:
    return [
        _visit_out(v)
        for v in access.readable_visits(scope, limit=limit, offset=offset, status=status)
    ]


@router.get("/v1/visits/{visit_id}", tags=["visits"], response_model=VisitDetailOut)
def get_visit(visit_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> VisitDetailOut:
    return visit_detail(scope, access.readable_visit(scope, visit_id))


@router.post("/v1/visits/{visit_id}/cancel", tags=["visits"], response_model=VisitOut)
def cancel_visit(visit_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> VisitOut:
    return _visit_out(booking.cancel(scope, visit_id))


@router.post("/v1/visits/{visit_id}/reschedule", tags=["visits"], response_model=VisitOut)
def reschedule_visit(
    visit_id: uuid.UUID, body: RescheduleIn, actor: ActorDep, scope: ScopeDep, runtime: RuntimeDep
) -> VisitOut:
    return _visit_out(
        booking.reschedule(
            scope, visit_id, body.slot_start, runtime.settings, version=body.expected_version
        )
    )


def _link_out(link: links.IssuedLink) -> LinkOut:
    p = link.participant
    assert p.token_expires_at is not None
    return LinkOut(
        participant_id=p.id,
        role=p.role,
        token=link.token,
        link=f"{JOIN_PATH}#token={link.token}",
        expires_at=p.token_expires_at,
    )


@router.post("/v1/visits/{visit_id}/link", tags=["visits"], response_model=LinkOut)
def my_link(visit_id: uuid.UUID, actor: ActorDep, scope: ScopeDep, runtime: RuntimeDep) -> LinkOut:
    return _link_out(links.issue_own_link(scope, visit_id, runtime.settings))


@router.post("/v1/visits/{visit_id}/end", tags=["visits"], response_model=VisitOut)
def end_visit(
    visit_id: uuid.UUID, body: EndIn, actor: ActorDep, scope: ScopeDep, runtime: RuntimeDep
) -> VisitOut:
    visit = access.clinician_visit(scope, visit_id, lock=True)
    session_record.end_visit(scope, None, visit, em_code=body.em_code, em_basis=body.em_basis)
    scope.uow.after_commit(lambda: runtime.control(visit.id, "ended"))
    return _visit_out(visit)


def _note_out(note: VisitNote) -> NoteOut:
    return NoteOut(
        id=note.id, version=note.version, signed_at=note.signed_at, signed_late=note.signed_late
    )


@router.put("/v1/visits/{visit_id}/note", tags=["visits"], response_model=NoteOut)
def put_note(visit_id: uuid.UUID, body: NoteIn, actor: ActorDep, scope: ScopeDep) -> NoteOut:
    visit = access.clinician_visit(scope, visit_id)
    return _note_out(notes.write_note(scope, visit, body.body, body.version))


@router.post("/v1/visits/{visit_id}/note/sign", tags=["visits"], response_model=NoteOut)
def sign_note(
    visit_id: uuid.UUID, actor: ActorDep, scope: ScopeDep, runtime: RuntimeDep
) -> NoteOut:
    visit = access.clinician_visit(scope, visit_id)
    return _note_out(notes.sign_note(scope, visit, runtime.settings))


@router.post(
    "/v1/visits/{visit_id}/note/amendments",
    tags=["visits"],
    status_code=201,
    response_model=NoteOut,
)
def amend_note(visit_id: uuid.UUID, body: AmendmentIn, actor: ActorDep, scope: ScopeDep) -> NoteOut:
    visit = access.clinician_visit(scope, visit_id)
    notes.amend_note(scope, visit, body.body)
    note = repository.note_of(scope.session, visit.id)
    assert note is not None
    return _note_out(note)


# --- the participant's session (join-link token) --------------------------------------------


@router.get("/v1/visit-session", tags=["visit-session"], response_model=SessionOut)
def my_session(ctx: ParticipantDep, scope: ScopeDep, runtime: RuntimeDep) -> SessionOut:
    visit, p = ctx.visit, ctx.participant
    scope.audit.record(
        Action.READ, "visit", visit.id, patient_id=visit.patient_id, detail={"via": "link"}
    )
    host = ctx.is_host
    tests = repository.precall_tests(scope.session, visit.id)
    consented = consent.consent_status(scope, visit)
    lobby = waiting_room.lobby(scope, ctx, runtime.settings)
    return SessionOut(
        visit_id=visit.id,
        participant_id=p.id,
        role=p.role,
        display_name=p.display_name,
        state=p.state,
        status=visit.status,
        slot_start=visit.slot_start,
        slot_end=visit.slot_end,
        planned_modality=visit.planned_modality,
        fallback_reason=visit.fallback_reason,
        located_state=visit.located_state,
        confirmed_state=p.confirmed_state,
        queue_position=waiting_room.position(scope, ctx),
        consent_outstanding=consented.outstanding,
        consent_signature_due=consented.signature_due,
        consents=consented.given,
        precall_done=any(t.participant_id == p.id for t in tests),
        waiting_room=waiting_room.waiting_room(scope, ctx) if host else None,
        participants=links.participants_view(scope, visit) if host else None,
        session=session_record.session_record(scope, visit) if host else None,
        note=notes.note_view(scope, visit) if host else None,
        waiting_message=_waiting_message_out(messages.waiting_message(scope, visit)),
        em=session_record.em_offer(scope, visit) if host else None,
        clinician_name=lobby.clinician_name,
        opens_at=lobby.opens_at,
        waiting_room_open=lobby.open,
        clinician_present=lobby.clinician_present,
        clinician_late=lobby.clinician_late,
    )


def _waiting_message_out(view: dict[str, Any] | None) -> WaitingMessageOut | None:
    return None if view is None else WaitingMessageOut.model_validate(view)


@router.get("/v1/visit-session/messages", tags=["visit-session"], response_model=list[MessageOut])
def session_messages(ctx: ParticipantDep, scope: ScopeDep) -> list[MessageOut]:
    """The call's chat so far, for a page that reloads in the call."""
    return _messages_out(messages.call_history(scope, ctx))


@router.post(
    "/v1/visit-session/messages",
    tags=["visit-session"],
    status_code=201,
    response_model=MessageOut,
)
def post_message(
    body: MessageIn, ctx: ParticipantDep, scope: ScopeDep, runtime: RuntimeDep
) -> MessageOut:
    """A message to the call, or from the clinician to everyone waiting; the sockets of its
    audience receive it once it is stored."""
    sent = messages.post(scope, ctx, MessageAudience(body.audience), body.body)
    visit_id, event = ctx.visit.id, sent.event()
    scope.uow.after_commit(lambda: runtime.control(visit_id, "message", **event))
    return MessageOut.model_validate(sent.view())


@router.post("/v1/visit-session/location", tags=["visit-session"], response_model=LocationOut)
def confirm_location(body: LocationIn, ctx: ParticipantDep, scope: ScopeDep) -> LocationOut:
    outcome = links.confirm_location(scope, ctx, body.state)
    return LocationOut(
        proceed=outcome.proceed,
        state_changed=outcome.changed,
        decision_id=outcome.decision_id,
        planned_modality=outcome.planned_modality,
        reason=outcome.reason,
    )


@router.post(
    "/v1/visit-session/consent",
    tags=["visit-session"],
    status_code=201,
    response_model=list[dict[str, Any]],
)
def give_consent(body: ConsentIn, ctx: ParticipantDep, scope: ScopeDep) -> list[dict[str, Any]]:
    consent.record_consent(scope, ctx, given_by=body.given_by, method=ConsentMethod(body.method))
    return consent.consents_view(scope, ctx.visit)


@router.post("/v1/visit-session/precall", tags=["visit-session"], response_model=PrecallOut)
def precall(body: PrecallIn, ctx: ParticipantDep, scope: ScopeDep) -> PrecallOut:
    result = record_precall(
        scope,
        ctx,
        camera_ok=body.camera_ok,
        microphone_ok=body.microphone_ok,
        down_mbps=body.down_mbps,
        up_mbps=body.up_mbps,
        rtt_ms=body.rtt_ms,
        loss_pct=body.loss_pct,
    )
    return PrecallOut(
        video_feasible=result.video_feasible,
        offered=result.offered,
        reason=result.reason,
        planned_modality=ctx.visit.planned_modality,
    )


@lru_cache(maxsize=1)
def _probe_block(size: int) -> bytes:
    # Random, so no compressing proxy can flatter the measured throughput.
    return os.urandom(size)


@router.get(PROBE, tags=["visit-session"], response_class=Response)
def probe_download(
    ctx: ParticipantDep,
    runtime: RuntimeDep,
    size: Annotated[int, Query(ge=0, le=bounds.MAX_COUNTER)] = 0,
) -> Response:
    limit = runtime.settings.probe_max_bytes
    if size > limit:
        raise DomainError(ErrorCode.PAYLOAD_TOO_LARGE, "probe size above the limit")
    return Response(_probe_block(limit)[:size], media_type="application/octet-stream")


@router.post(PROBE, tags=["visit-session"], response_model=ProbeOut)
async def probe_upload(request: Request, ctx: ParticipantDep, runtime: RuntimeDep) -> ProbeOut:
    limit = runtime.settings.probe_max_bytes
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit:
        raise DomainError(ErrorCode.PAYLOAD_TOO_LARGE, "probe size above the limit")
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise DomainError(ErrorCode.PAYLOAD_TOO_LARGE, "probe size above the limit")
    return ProbeOut(received_bytes=received)


@router.post("/v1/visit-session/waiting", tags=["visit-session"], response_model=ParticipantOut)
def enter_waiting_room(ctx: ParticipantDep, scope: ScopeDep, runtime: RuntimeDep) -> ParticipantOut:
    participant = waiting_room.enter_waiting_room(scope, ctx, runtime.settings)
    visit_id = ctx.visit.id
    scope.uow.after_commit(
        lambda: runtime.control(visit_id, "waiting", participant=str(participant.id))
    )
    return _participant_out(participant)


def _participant_out(p: Participant) -> ParticipantOut:
    return ParticipantOut(id=p.id, role=p.role, state=p.state)


@router.post(
    "/v1/visit-session/participants",
    tags=["visit-session"],
    response_model=LinkOut,
    status_code=201,
)
def invite(body: InviteIn, ctx: ParticipantDep, scope: ScopeDep, runtime: RuntimeDep) -> LinkOut:
    return _link_out(
        links.invite(scope, ctx, ParticipantRole(body.role), body.display_name, runtime.settings)
    )


@router.post(
    "/v1/visit-session/participants/{participant_id}/admit",
    tags=["visit-session"],
    response_model=ParticipantOut,
)
def admit(
    participant_id: uuid.UUID, ctx: ParticipantDep, scope: ScopeDep, runtime: RuntimeDep
) -> ParticipantOut:
    target = waiting_room.admit(scope, ctx, participant_id)
    visit_id = ctx.visit.id
    role, name = target.role, target.display_name
    scope.uow.after_commit(
        lambda: runtime.control(
            visit_id, "admitted", participant=str(participant_id), role=role, display_name=name
        )
    )
    return _participant_out(target)


@router.post(
    "/v1/visit-session/participants/{participant_id}/remove",
    tags=["visit-session"],
    response_model=ParticipantOut,
)
def remove(
    participant_id: uuid.UUID, ctx: ParticipantDep, scope: ScopeDep, runtime: RuntimeDep
) -> ParticipantOut:
    target = waiting_room.remove(scope, ctx, participant_id)
    visit_id = ctx.visit.id
    scope.uow.after_commit(
        lambda: runtime.control(visit_id, "removed", participant=str(participant_id))
    )
    return _participant_out(target)


@router.post("/v1/visit-session/end", tags=["visit-session"], response_model=VisitOut)
def end_session(body: EndIn, ctx: ParticipantDep, scope: ScopeDep, runtime: RuntimeDep) -> VisitOut:
    visit = session_record.end_visit(
        scope, ctx, ctx.visit, em_code=body.em_code, em_basis=body.em_basis
    )
    scope.uow.after_commit(lambda: runtime.control(visit.id, "ended"))
    return _visit_out(visit)


def _host_visit(scope: Scope, ctx: links.ParticipantContext) -> Visit:
    if not ctx.is_host:
        raise DomainError(ErrorCode.FORBIDDEN, "only the visit's clinician writes the note")
    return ctx.visit


@router.put("/v1/visit-session/note", tags=["visit-session"], response_model=NoteOut)
def session_note(body: NoteIn, ctx: ParticipantDep, scope: ScopeDep) -> NoteOut:
    return _note_out(notes.write_note(scope, _host_visit(scope, ctx), body.body, body.version))


@router.post("/v1/visit-session/note/sign", tags=["visit-session"], response_model=NoteOut)
def session_sign(ctx: ParticipantDep, scope: ScopeDep, runtime: RuntimeDep) -> NoteOut:
    return _note_out(notes.sign_note(scope, _host_visit(scope, ctx), runtime.settings))


@router.websocket("/v1/visit-session/signal")
async def signal(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    backend = relay.Backend(services.sessions, services.ports)
    await relay.serve(websocket, services.visits, backend)


router.include_router(pages.router)
