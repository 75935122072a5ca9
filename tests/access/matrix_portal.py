"""Access-matrix entries for the portal pages (merged into tests/access/test_matrix.py)."""

from __future__ import annotations

from telehealth.portal import service as portal
from tests.access.audience import (
    MANAGERS,
    PATIENT_READERS,
    STAFF_READERS,
)
from tests.access.audience import Audience as A
from tests.access.matrix import Entry, decision_for_patient_a, form, page
from tests.access.matrix_visits import visit_of_patient_a
from tests.portal.support import INTAKE_FORM
from tests.review.support import DERM_ANSWERS, acting
from tests.support import World, services_for
from tests.visits.support import book


def _visit(world: World) -> str:
    target = visit_of_patient_a("portal").target
    assert target is not None
    return target(world).rsplit("/", 1)[1]


def _new_visit(world: World) -> str:
    """A new booked visit of patient A, for a form that fills in its intake."""
    with services_for(world) as services:
        return f"/portal/visits/{book(services, world)}/intake"


def _started_intake(world: World) -> str:
    """A new visit of patient A whose intake patient A has started, ready to be sent."""
    with services_for(world) as services:
        visit_id = book(services, world)
        with acting(services, world["patient_a"]) as scope:
            portal.start_intake(scope, visit_id, INTAKE_FORM["reason"], dict(DERM_ANSWERS))
    return f"/portal/visits/{visit_id}/intake/complete"


ENTRIES: dict[tuple[str, str], Entry] = {
    ("GET", "/portal/visits/{visit_id}/intake"): page(
        PATIENT_READERS, lambda w: f"/portal/visits/{_visit(w)}/intake"
    ),
    ("POST", "/portal/visits/{visit_id}/intake"): form(
        A.PATIENT_SELF, _new_visit, INTAKE_FORM, fresh=True
    ),
    ("POST", "/portal/visits/{visit_id}/intake/complete"): form(
        A.PATIENT_SELF, _started_intake, {}, fresh=True
    ),
    ("GET", "/portal/visits/{visit_id}/context"): page(
        STAFF_READERS, lambda w: f"/portal/visits/{_visit(w)}/context"
    ),
    ("GET", "/portal/decisions/{decision_id}"): page(
        PATIENT_READERS, lambda w: f"/portal/decisions/{decision_for_patient_a(w)}"
    ),
    ("GET", "/admin/queues"): page(MANAGERS),
    ("GET", "/admin/impact"): page(MANAGERS),
    ("GET", "/admin/impact.csv"): page(MANAGERS),
}
