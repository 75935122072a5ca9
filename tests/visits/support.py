"""Helpers for visit tests: reach the app under test, book visits, issue join links."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from telehealth.config import VisitSettings
from telehealth.identity import queries as identity_queries
from telehealth.identity import service as identity
from telehealth.identity.model import LicenseKind
from telehealth.scope import Scope, open_scope
from telehealth.visits import (
    access,
    availability,
    booking,
    consent,
    links,
    model,
    notes,
    repository,
    session_record,
    waiting_room,
)
from telehealth.visits.model import PresenceKind
from telehealth.web.scoped import Services
from tests.support import World

TIME_ZONE = "America/Chicago"
# Monday 30 November 2026, the first Monday after the frozen test clock (Friday 27 November).
FIRST_MONDAY = datetime(2026, 11, 30, tzinfo=UTC)
LINKS = VisitSettings()
INTAKE = booking.Intake(located_state="TX", acuity="routine", purpose="follow_up")
# A pre-call check's figures good enough for video.
GOOD_LINK = {
    "camera_ok": True,
    "microphone_ok": True,
    "down_mbps": 25.0,
    "up_mbps": 10.0,
    "rtt_ms": 30.0,
    "loss_pct": 0.0,
}


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


@contextmanager
def acting(services: Services, user_id: uuid.UUID | None) -> Iterator[Scope]:
    scope = open_scope(services.sessions, services.ports, request_id="test")
    try:
        if user_id is not None:
            user = identity_queries.user_by_id(scope.session, user_id)
            assert user is not None
            scope.act_as(identity.system_actor_for(scope, user))
        yield scope
        scope.uow.commit()
    finally:
        scope.uow.close()


def ensure_availability(services: Services, world: World, clinician: str = "clinician_a") -> None:
    clinician_id = world[clinician].user_id
    with acting(services, world["coordinator"].user_id) as scope:
        if repository.windows_of(scope.session, clinician_id):
            return
        for weekday in range(5):
            availability.add_window(
                scope,
                clinician_id,
                model.WeeklyWindow(TIME_ZONE, weekday, time(9, 0), time(17, 0), 30),
            )


def next_free_slot(services: Services, world: World, clinician: str = "clinician_a") -> datetime:
    with acting(services, world["coordinator"].user_id) as scope:
        slots = availability.free_slots(
            scope, world[clinician].user_id, FIRST_MONDAY, FIRST_MONDAY + timedelta(days=5)
        )
    return slots[0][0]


def book(
    services: Services,
    world: World,
    *,
    patient: str = "patient_a",
    clinician: str = "clinician_a",
    intake: booking.Intake = INTAKE,
    slot: datetime | None = None,
) -> uuid.UUID:
    ensure_availability(services, world, clinician)
    start = slot or next_free_slot(services, world, clinician)
    patient_id = world[patient].patient_id
    assert patient_id is not None
    with acting(services, world["coordinator"].user_id) as scope:
        visit, _ = booking.book(
            scope,
            patient_id=patient_id,
            clinician_id=world[clinician].user_id,
            slot_start=start,
            intake=intake,
        )
        return visit.id


def link_for(services: Services, visit_id: uuid.UUID, user_id: uuid.UUID) -> str:
    with acting(services, user_id) as scope:
        return links.issue_own_link(scope, visit_id, LINKS).token


def booked_with_links(services: Services, world: World) -> dict[str, Any]:
    """A new visit of patient A with clinician A: its id and both join tokens."""
    visit_id = book(services, world)
    return {
        "id": visit_id,
        "patient": link_for(services, visit_id, world["patient_a"].user_id),
        "clinician": link_for(services, visit_id, world["clinician_a"].user_id),
    }


def start(
    services: Services,
    world: World,
    visit_id: uuid.UUID,
    *,
    patient: str = "patient_a",
    clinician: str = "clinician_a",
) -> None:
    """Takes a booked visit into its call: the patient confirms Texas, consents where consent
    is still due, waits, and the clinician opens their room and admits them."""
    patient_link = link_for(services, visit_id, world[patient].user_id)
    host_link = link_for(services, visit_id, world[clinician].user_id)
    settings = services.visits.settings
    with acting(services, None) as scope:
        ctx = links.resolve_participant(scope, patient_link)
        links.confirm_location(scope, ctx, "TX")
        if consent.consent_outstanding(scope, ctx.visit):
            consent.record_consent(
                scope, ctx, given_by="patient", method=model.ConsentMethod.WRITTEN
            )
        waiting = waiting_room.enter_waiting_room(scope, ctx, settings).id
    with acting(services, None) as scope:
        host = links.resolve_participant(scope, host_link)
        waiting_room.enter_waiting_room(scope, host, settings)
        waiting_room.admit(scope, host, waiting)


def write_note(
    services: Services,
    world: World,
    visit_id: uuid.UUID,
    *,
    signed: bool = False,
    clinician: str = "clinician_a",
) -> None:
    """The clinician's note on the visit, signed when asked."""
    with acting(services, world[clinician].user_id) as scope:
        visit = access.clinician_visit(scope, visit_id)
        notes.write_note(scope, visit, "Assessment and plan", None)
        if signed:
            notes.sign_note(scope, visit, LINKS)


def ready_patient(client: TestClient, token: str) -> None:
    """The patient's intake over the session API: in Texas, written consent, a good check."""
    headers = {"X-Visit-Token": token}
    location = client.post("/v1/visit-session/location", json={"state": "TX"}, headers=headers)
    assert location.json()["proceed"] is True
    consent = client.post(
        "/v1/visit-session/consent",
        headers=headers,
        json={"method": "written", "acknowledged": True},
    )
    assert consent.status_code == 201, consent.text
    precall = client.post("/v1/visit-session/precall", json=GOOD_LINK, headers=headers)
    assert precall.status_code == 200


def license_clinician_a(services: Services, world: World, state: str) -> None:
    """Clinician A holds a full license in ``state`` too (seed data)."""
    with acting(services, world["admin"].user_id) as scope:
        identity.add_license(
            scope,
            world["clinician_a"].user_id,
            state=state,
            kind=LicenseKind.FULL,
            number=f"{state}-1",
            expires_on=None,
        )


def in_call(app: FastAPI, world: World, clock: FrozenClock, *, media: str) -> uuid.UUID:
    """A visit of patient A admitted into its call for 25 minutes: with video both ways
    (``video``), both connected without video (``audio``), or nobody ever connected
    (``none``)."""
    services = services_of(app)
    visit_id = book(services, world)
    start(services, world, visit_id)
    clock.advance(timedelta(minutes=1))
    with acting(services, None) as scope:
        people = repository.participants_of(scope.session, visit_id)
        for participant in (p for p in people if p.role in ("patient", "clinician")):
            if media != "none":
                session_record.record_presence(scope, participant.id, PresenceKind.JOIN)
            if media == "video":
                session_record.record_media(scope, participant.id, True)
    clock.advance(timedelta(minutes=24))
    return visit_id
