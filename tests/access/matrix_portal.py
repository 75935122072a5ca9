"""Access-matrix entries for the portal pages (merged into tests/access/test_matrix.py)."""

from __future__ import annotations

from tests.access.audience import (
    MANAGERS,
    ORG_MANAGERS,
    PATIENT_READERS,
    SIGNED_IN,
    STAFF,
    STAFF_READERS,
)
from tests.access.audience import Audience as A
from tests.access.matrix import Entry, decision_for_patient_a, page
from tests.access.matrix_visits import visit_of_patient_a
from tests.support import World

# The forms' own tests post them signed in (tests/portal/test_pages.py); here they are
# checked signed out only.
FORM = "a form post; tests/portal/test_pages.py"


def _visit(world: World) -> str:
    target = visit_of_patient_a("portal").target
    assert target is not None
    return target(world).rsplit("/", 1)[1]


ENTRIES: dict[tuple[str, str], Entry] = {
    ("GET", "/invite"): page(A.ANYONE | SIGNED_IN),
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
    ("GET", "/portal/alerts"): page(STAFF),
    ("POST", "/portal/alerts/{alert_id}"): page(STAFF_READERS, not_probed=FORM),
    ("GET", "/admin/users"): page(MANAGERS),
    ("POST", "/admin/users"): page(MANAGERS, not_probed=FORM),
    ("POST", "/admin/patients"): page(MANAGERS, not_probed=FORM),
    ("GET", "/admin/clinicians/{clinician_id}"): page(
        ORG_MANAGERS,
        lambda w: f"/admin/clinicians/{w['clinician_a'].user_id}",
        seen_by=A.ORG_MEMBER,
        disagrees="refuses by role (403) before looking the clinician up: intended 404 for "
        "another organization's clinician",
    ),
    ("POST", "/admin/clinicians/{clinician_id}/licenses"): page(ORG_MANAGERS, not_probed=FORM),
    ("POST", "/admin/clinicians/{clinician_id}/dea"): page(ORG_MANAGERS, not_probed=FORM),
    ("GET", "/admin/schedules"): page(MANAGERS),
    ("POST", "/admin/schedules/{clinician_id}/windows"): page(ORG_MANAGERS, not_probed=FORM),
    ("GET", "/admin/queues"): page(MANAGERS),
    ("GET", "/admin/audit"): page(A.ADMINS),
    ("POST", "/admin/audit"): page(A.ADMINS, not_probed=FORM),
}
