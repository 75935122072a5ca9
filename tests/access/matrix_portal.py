"""Access-matrix entries for the portal pages (merged into tests/access/test_matrix.py)."""

from __future__ import annotations

from tests.access.audience import (
    MANAGERS,
    PATIENT_READERS,
    STAFF_READERS,
)
from tests.access.audience import Audience as A
from tests.access.matrix import Entry, decision_for_patient_a, page
from tests.access.matrix_visits import visit_of_patient_a
from tests.support import World

# The intake forms' own tests post them (tests/portal/test_pages.py); here they are checked
# signed out only.
FORM = "a multi-step intake form; tests/portal/test_pages.py"


def _visit(world: World) -> str:
    target = visit_of_patient_a("portal").target
    assert target is not None
    return target(world).rsplit("/", 1)[1]


ENTRIES: dict[tuple[str, str], Entry] = {
    ("GET", "/portal/visits/{visit_id}/intake"): page(
        PATIENT_READERS, lambda w: f"/portal/visits/{_visit(w)}/intake"
    ),
    ("POST", "/portal/visits/{visit_id}/intake"): page(
        A.PATIENT_SELF, lambda w: f"/portal/visits/{_visit(w)}/intake", not_probed=FORM
    ),
    ("POST", "/portal/visits/{visit_id}/intake/complete"): page(
        A.PATIENT_SELF, lambda w: f"/portal/visits/{_visit(w)}/intake/complete", not_probed=FORM
    ),
    ("GET", "/portal/visits/{visit_id}/context"): page(
        STAFF_READERS, lambda w: f"/portal/visits/{_visit(w)}/context"
    ),
    ("GET", "/portal/decisions/{decision_id}"): page(
        PATIENT_READERS, lambda w: f"/portal/decisions/{decision_for_patient_a(w)}"
    ),
    ("GET", "/admin/queues"): page(MANAGERS),
}
