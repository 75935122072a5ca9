"""Access-matrix entries for the visits routes (merged into tests/access/test_matrix.py).

Visit routes are reached through patient A's visits. Each object entry gets a visit of its
own, booked by the coordinator in the app under test, so that entries which change a visit
(cancel, reschedule) do not disturb the others, and taken as far as its action needs (started
to be ended, noted to be signed, signed to be amended). Routes authenticated by a join link answer
401 without one; refusals of wrong, expired and revoked links are in tests/visits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import time, timedelta
from typing import Any
from urllib.parse import urlencode

from telehealth.visits import access, availability, model, session_record
from telehealth.web.scoped import Services
from tests.access.audience import (
    MANAGERS,
    ORG_MANAGERS,
    PATIENT_READERS,
    SIGNED_IN,
    STARTS_CARE,
    Audience,
)
from tests.access.audience import Audience as A
from tests.access.matrix import Body, Entry, Target, form, new_user, page
from tests.support import World, services_for
from tests.visits.support import (
    FIRST_MONDAY,
    acting,
    book,
    ensure_availability,
    next_free_slot,
    start,
    write_note,
)

_VISITS: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
# Who books and moves a visit: the patient, the clinicians caring for them, coordinators.
# Administrators manage accounts, not records; a break-glass grant starts no lasting care.
SCHEDULERS = A.PATIENT_SELF | A.CARE_TEAM | A.ORG_COORDINATOR
# What a new visit goes through before an action that needs it further along than booked.
Prepare = Callable[[Services, World, uuid.UUID], None]


def _noted(services: Services, world: World, visit_id: uuid.UUID) -> None:
    write_note(services, world, visit_id)


def _signed(services: Services, world: World, visit_id: uuid.UUID) -> None:
    write_note(services, world, visit_id, signed=True)


def visit_of_patient_a(key: str, suffix: str = "") -> Entry:
    """Patient A's visit for ``key``, booked once per world."""

    def target(world: World) -> str:
        slot = (world.org_id, key)
        if slot not in _VISITS:
            with services_for(world) as services:
                _VISITS[slot] = book(services, world)
        return f"/v1/visits/{_VISITS[slot]}{suffix}"

    return Entry(PATIENT_READERS, target=target)


def _new_visit(prefix: str, suffix: str, prepare: Prepare | None = None) -> Target:
    """A new visit of patient A per call, for actions that change it, taken as far as the
    action needs (``prepare``)."""

    def target(world: World) -> str:
        with services_for(world) as services:
            visit_id = book(services, world)
            if prepare is not None:
                prepare(services, world, visit_id)
            return f"{prefix}{visit_id}{suffix}"

    return target


def _slots_of_clinician_a(world: World) -> str:
    query = urlencode(
        {
            "clinician_id": str(world["clinician_a"].user_id),
            "start": FIRST_MONDAY.isoformat(),
            "end": (FIRST_MONDAY + timedelta(days=1)).isoformat(),
        }
    )
    return f"/v1/visit-slots?{query}"


def _booking_of_patient_a(world: World) -> dict[str, Any]:
    """A booking of patient A with clinician A in a slot still free."""
    with services_for(world) as services:
        ensure_availability(services, world)
        slot = next_free_slot(services, world)
    return {
        "patient_id": str(world["patient_a"].patient_id),
        "clinician_id": str(world["clinician_a"].user_id),
        "slot_start": slot.isoformat(),
        "located_state": "TX",
        "acuity": "routine",
        "purpose": "follow_up",
    }


def _free_slot(world: World) -> dict[str, Any]:
    """A reschedule of a new visit (version 1) to a slot still free in the world."""
    with services_for(world) as services:
        return {"slot_start": next_free_slot(services, world).isoformat(), "expected_version": 1}


def _page_booking_of_patient_a(world: World) -> dict[str, Any]:
    """The booking page's last step for patient A with clinician A, in a slot still free."""
    return {
        **_booking_of_patient_a(world),
        "specialty": "dermatology",
        "video_capable": "yes",
        "consents_to_video": "yes",
        "step": "book",
    }


def _new_window(world: World) -> str:
    """A window of a new clinician of patient A's organization, to be removed."""
    clinician_id = new_user(world)
    with services_for(world) as services, acting(services, world["coordinator"].user_id) as scope:
        row = availability.add_window(
            scope, clinician_id, model.WeeklyWindow("America/Chicago", 0, time(9), time(12), 30)
        )
        return f"/admin/schedules/windows/{row.id}/delete"


def _object(
    audience: Audience, suffix: str, body: Body | None = None, prepare: Prepare | None = None
) -> Entry:
    target = _new_visit("/v1/visits/", suffix, prepare)
    return Entry(audience, target=target, body=body, fresh=True)


def _ended(services: Services, world: World, visit_id: uuid.UUID) -> None:
    """Held and ended without an E/M level."""
    start(services, world, visit_id)
    with acting(services, world["clinician_a"].user_id) as scope:
        visit = access.clinician_visit(scope, visit_id, lock=True)
        session_record.end_visit(scope, None, visit, em_code=None)


def _record_form(suffix: str, body: Body, prepare: Prepare | None = None) -> Entry:
    """A form on a new visit's record page, for the clinician who conducts it."""
    return form(A.CARE_TEAM, _new_visit("/visits/", suffix, prepare), body, fresh=True)


SESSION_ROUTES = [
    ("GET", "/v1/visit-session"),
    ("POST", "/v1/visit-session/location"),
    ("POST", "/v1/visit-session/consent"),
    ("POST", "/v1/visit-session/precall"),
    ("GET", "/v1/visit-session/probe"),
    ("POST", "/v1/visit-session/probe"),
    ("POST", "/v1/visit-session/waiting"),
    ("POST", "/v1/visit-session/participants"),
    ("POST", "/v1/visit-session/participants/{participant_id}/admit"),
    ("POST", "/v1/visit-session/participants/{participant_id}/remove"),
    ("POST", "/v1/visit-session/end"),
    ("PUT", "/v1/visit-session/note"),
    ("POST", "/v1/visit-session/note/sign"),
    ("GET", "/v1/visit-session/messages"),
    ("POST", "/v1/visit-session/messages"),
    ("WS", "/v1/visit-session/signal"),
]

ENTRIES: dict[tuple[str, str], Entry] = {
    ("POST", "/v1/visit-availability"): Entry(
        SIGNED_IN, not_probed="whose schedule whom may open: tests/visits"
    ),
    ("GET", "/v1/visit-availability"): Entry(
        A.ORG_MEMBER,
        target=lambda w: f"/v1/visit-availability?clinician_id={w['clinician_a'].user_id}",
        seen_by=A.ORG_MEMBER,
    ),
    ("DELETE", "/v1/visit-availability/{window_id}"): Entry(
        SIGNED_IN, not_probed="a window of the caller's; tests/visits"
    ),
    ("GET", "/v1/visit-slots"): Entry(
        A.ORG_MEMBER, target=_slots_of_clinician_a, seen_by=A.ORG_MEMBER
    ),
    # Booking ties the clinician to the patient for good: it needs a standing relationship,
    # which a break-glass grant is not (test_break_glass.py follows a booking through).
    ("POST", "/v1/visits"): Entry(
        STARTS_CARE, target=lambda _w: "/v1/visits", body=_booking_of_patient_a, fresh=True
    ),
    ("GET", "/v1/visits"): Entry(SIGNED_IN),
    ("GET", "/v1/visits/{visit_id}"): Entry(
        PATIENT_READERS,
        target=visit_of_patient_a("read").target,
    ),
    # Readers of the visit to whom an action is not theirs get 403 (the visit is no secret to
    # them); whoever may not read it gets the answer for a missing visit.
    ("POST", "/v1/visits/{visit_id}/cancel"): _object(SCHEDULERS, "/cancel"),
    ("POST", "/v1/visits/{visit_id}/reschedule"): _object(SCHEDULERS, "/reschedule", _free_slot),
    ("POST", "/v1/visits/{visit_id}/link"): _object(A.PATIENT_SELF | A.CARE_TEAM, "/link"),
    ("POST", "/v1/visits/{visit_id}/end"): _object(A.CARE_TEAM, "/end", {}, start),
    ("PUT", "/v1/visits/{visit_id}/note"): _object(
        A.CARE_TEAM, "/note", {"body": "Assessment and plan"}
    ),
    ("POST", "/v1/visits/{visit_id}/note/sign"): _object(A.CARE_TEAM, "/note/sign", None, _noted),
    ("POST", "/v1/visits/{visit_id}/note/amendments"): _object(
        A.CARE_TEAM, "/note/amendments", {"body": "Addendum"}, _signed
    ),
    **{
        route: Entry(A.JOIN_LINK, not_probed="WebSocket; tests/visits")
        if route[0] == "WS"
        else Entry(A.JOIN_LINK)
        for route in SESSION_ROUTES
    },
    ("GET", "/visits/join"): page(A.ANYONE | SIGNED_IN),
    ("GET", "/visits"): page(SIGNED_IN),
    ("GET", "/visits/{visit_id}"): page(PATIENT_READERS, _new_visit("/visits/", "")),
    # The clinician's forms on the visit record, after the call (the same actions as the
    # note routes above and the E/M level of a visit ended without one).
    ("POST", "/visits/{visit_id}/note"): _record_form("/note", {"body": "Assessment"}),
    ("POST", "/visits/{visit_id}/note/sign"): _record_form("/note/sign", {}, _noted),
    ("POST", "/visits/{visit_id}/note/amendments"): _record_form(
        "/note/amendments", {"body": "Addendum"}, _signed
    ),
    ("POST", "/visits/{visit_id}/em"): _record_form(
        "/em", {"em_code": "99213", "em_basis": "mdm"}, _ended
    ),
    # Booking, cancelling and rescheduling from the pages: the same services as the API above.
    ("GET", "/visits/book"): page(SIGNED_IN),
    ("POST", "/visits/book"): form(
        STARTS_CARE, lambda _w: "/visits/book", _page_booking_of_patient_a, fresh=True
    ),
    ("GET", "/visits/{visit_id}/cancel"): page(SCHEDULERS, _new_visit("/visits/", "/cancel")),
    ("POST", "/visits/{visit_id}/cancel"): form(
        SCHEDULERS, _new_visit("/visits/", "/cancel"), {}, fresh=True
    ),
    ("GET", "/visits/{visit_id}/reschedule"): page(
        SCHEDULERS, _new_visit("/visits/", "/reschedule")
    ),
    ("POST", "/visits/{visit_id}/reschedule"): form(
        SCHEDULERS,
        _new_visit("/visits/", "/reschedule"),
        lambda w: {k: str(v) for k, v in _free_slot(w).items()},
        fresh=True,
    ),
    ("POST", "/admin/schedules/windows/{window_id}/delete"): form(
        ORG_MANAGERS, _new_window, {}, seen_by=A.ORG_MEMBER, roles=MANAGERS, fresh=True
    ),
    ("GET", "/admin/schedules"): page(MANAGERS),
    ("POST", "/admin/schedules/{clinician_id}/windows"): form(
        ORG_MANAGERS,
        lambda w: f"/admin/schedules/{new_user(w)}/windows",
        {"time_zone": "America/Chicago", "weekday": "0", "start": "09:00", "end": "12:00"},
        seen_by=A.ORG_MEMBER,
        roles=MANAGERS,
        fresh=True,
    ),
}
