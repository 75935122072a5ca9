"""Access-matrix entries for the visits routes (merged into tests/access/test_matrix.py).

Visit routes are reached through patient A's visits. Each object entry gets a visit of its
own, booked by the coordinator in the app under test, so that entries which change a visit
(cancel, reschedule) do not disturb the others. Routes authenticated by a join link answer
401 without one; refusals of wrong, expired and revoked links are in tests/visits.
"""

from __future__ import annotations

import uuid

from tests.access.matrix import Entry
from tests.support import World, services_for
from tests.visits.support import book

_VISITS: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
# Monday 7 December 2026, 09:00 in Chicago: free in every world (bookings fill 30 November).
RESCHEDULE_TO = "2026-12-07T15:00:00+00:00"
READERS = ("patient_a", "clinician_a", "coordinator", "admin")


def visit_of_patient_a(key: str, suffix: str = "") -> Entry:
    def target(world: World) -> str:
        slot = (world.org_id, key)
        if slot not in _VISITS:
            with services_for(world) as services:
                _VISITS[slot] = book(services, world)
        return f"/v1/visits/{_VISITS[slot]}{suffix}"

    return Entry("patient_object", target=target)


def _object(
    key: str, suffix: str, allowed: tuple[str, ...] = (), body: dict[str, object] | None = None
) -> Entry:
    base = visit_of_patient_a(key, suffix)
    return Entry("patient_object", target=base.target, body=body, allowed=allowed)


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
    ("WS", "/v1/visit-session/signal"),
]

ENTRIES: dict[tuple[str, str], Entry] = {
    ("POST", "/v1/visit-availability"): Entry("self"),
    ("GET", "/v1/visit-availability"): Entry("self"),
    ("DELETE", "/v1/visit-availability/{window_id}"): Entry("self"),
    ("GET", "/v1/visit-slots"): Entry("self"),
    ("POST", "/v1/visits"): Entry("self"),
    ("GET", "/v1/visits"): Entry("self"),
    ("GET", "/v1/visits/{visit_id}"): _object("read", "", READERS),
    ("POST", "/v1/visits/{visit_id}/cancel"): _object("cancel", "/cancel", ("coordinator",)),
    ("POST", "/v1/visits/{visit_id}/reschedule"): _object(
        "reschedule",
        "/reschedule",
        ("coordinator",),
        {"slot_start": RESCHEDULE_TO, "expected_version": 1},
    ),
    ("POST", "/v1/visits/{visit_id}/link"): _object("link", "/link", ("patient_a", "clinician_a")),
    ("POST", "/v1/visits/{visit_id}/end"): _object("end", "/end", body={}),
    ("PUT", "/v1/visits/{visit_id}/note"): _object(
        "note", "/note", ("clinician_a",), {"body": "Assessment and plan"}
    ),
    ("POST", "/v1/visits/{visit_id}/note/sign"): _object("sign", "/note/sign"),
    ("POST", "/v1/visits/{visit_id}/note/amendments"): _object(
        "amend", "/note/amendments", body={"body": "Addendum"}
    ),
    **{route: Entry("self") for route in SESSION_ROUTES},
    ("GET", "/visits/join"): Entry("page_public"),
    ("GET", "/visits"): Entry("page"),
    ("GET", "/visits/{visit_id}"): Entry("page"),
    ("GET", "/admin/schedules"): Entry("page"),
    ("POST", "/admin/schedules/{clinician_id}/windows"): Entry("page"),
}
