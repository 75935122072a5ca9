"""Access-matrix entries for the portal pages (merged into tests/access/test_matrix.py)."""

from __future__ import annotations

import uuid

from tests.access.audience import (
    MANAGERS,
    ORG_MANAGERS,
    PATIENT_READERS,
    SIGNED_IN,
    STAFF,
    STAFF_READERS,
)
from tests.access.audience import Audience as A
from tests.access.matrix import ROLE_FIRST, Entry, decision_for_patient_a, form, new_user, page
from tests.access.matrix_monitoring import TRIAGE, alert_of_patient_a
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
    ("POST", "/portal/alerts/{alert_id}"): form(
        TRIAGE,
        lambda w: f"/portal/alerts/{alert_of_patient_a(w)}",
        {"do": "acknowledge"},
        once=True,
    ),
    ("GET", "/admin/users"): page(MANAGERS),
    ("POST", "/admin/users"): form(
        MANAGERS,
        lambda _w: "/admin/users",
        lambda _w: {
            "email": f"staff-{uuid.uuid4().hex[:8]}@example.test",
            "display_name": "New",
            "role": "clinician",
        },
        seen_by=SIGNED_IN,
    ),
    ("POST", "/admin/patients"): form(
        MANAGERS,
        lambda _w: "/admin/patients",
        lambda _w: {
            "given_name": "New",
            "family_name": "Patient",
            "birth_date": "1980-01-01",
            "home_state": "TX",
            "email": f"patient-{uuid.uuid4().hex[:8]}@example.test",
        },
        seen_by=SIGNED_IN,
    ),
    ("GET", "/admin/clinicians/{clinician_id}"): page(
        ORG_MANAGERS,
        lambda w: f"/admin/clinicians/{w['clinician_a'].user_id}",
        seen_by=A.ORG_MEMBER,
        disagrees="refuses by role (403) before looking the clinician up: intended 404 for "
        "another organization's clinician",
    ),
    ("POST", "/admin/clinicians/{clinician_id}/licenses"): form(
        ORG_MANAGERS,
        lambda w: f"/admin/clinicians/{new_user(w)}/licenses",
        {"state": "NY", "kind": "full", "number": "NY-1"},
        seen_by=A.ORG_MEMBER,
        fresh=True,
        disagrees=ROLE_FIRST,
    ),
    ("POST", "/admin/clinicians/{clinician_id}/dea"): form(
        ORG_MANAGERS,
        lambda w: f"/admin/clinicians/{new_user(w)}/dea",
        {"state": "TX", "number": "AB1234563", "schedules": "II"},
        seen_by=A.ORG_MEMBER,
        fresh=True,
        disagrees=ROLE_FIRST,
    ),
    ("GET", "/admin/schedules"): page(MANAGERS),
    ("POST", "/admin/schedules/{clinician_id}/windows"): form(
        ORG_MANAGERS,
        lambda w: f"/admin/schedules/{new_user(w)}/windows",
        {"time_zone": "America/Chicago", "weekday": "0", "start": "09:00", "end": "12:00"},
        seen_by=A.ORG_MEMBER,
        fresh=True,
        disagrees=ROLE_FIRST,
    ),
    ("GET", "/admin/queues"): page(MANAGERS),
    ("GET", "/admin/audit"): page(A.ADMINS),
    ("POST", "/admin/audit"): form(
        A.ADMINS, lambda _w: "/admin/audit", {"action": ""}, seen_by=SIGNED_IN
    ),
}
