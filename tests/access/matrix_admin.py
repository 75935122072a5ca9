"""Access-matrix entries for the administration pages of identity and audit (merged into
tests/access/test_matrix.py)."""

from __future__ import annotations

import uuid

from tests.access.audience import MANAGERS, ORG_MANAGERS, SIGNED_IN
from tests.access.audience import Audience as A
from tests.access.matrix import Entry, form, new_user, page

ENTRIES: dict[tuple[str, str], Entry] = {
    ("GET", "/invite"): page(A.ANYONE | SIGNED_IN),
    ("GET", "/profile"): page(SIGNED_IN),
    ("POST", "/profile"): form(
        SIGNED_IN, lambda _w: "/profile", {"time_zone": "America/Chicago"}, seen_by=SIGNED_IN
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
        roles=MANAGERS,
    ),
    ("POST", "/admin/clinicians/{clinician_id}/licenses"): form(
        ORG_MANAGERS,
        lambda w: f"/admin/clinicians/{new_user(w)}/licenses",
        {"state": "NY", "kind": "full", "number": "NY-1"},
        seen_by=A.ORG_MEMBER,
        roles=MANAGERS,
        fresh=True,
    ),
    ("POST", "/admin/clinicians/{clinician_id}/dea"): form(
        ORG_MANAGERS,
        lambda w: f"/admin/clinicians/{new_user(w)}/dea",
        {"state": "TX", "number": "AB1234563", "schedules": "II"},
        seen_by=A.ORG_MEMBER,
        roles=MANAGERS,
        fresh=True,
    ),
    ("POST", "/admin/clinicians/{clinician_id}/languages"): form(
        ORG_MANAGERS,
        lambda w: f"/admin/clinicians/{new_user(w)}/languages",
        {"languages": "es"},
        seen_by=A.ORG_MEMBER,
        roles=MANAGERS,
        fresh=True,
    ),
    ("POST", "/admin/clinicians/{clinician_id}/discipline"): form(
        ORG_MANAGERS,
        lambda w: f"/admin/clinicians/{new_user(w)}/discipline",
        {"discipline": "np"},
        seen_by=A.ORG_MEMBER,
        roles=MANAGERS,
        fresh=True,
    ),
    ("GET", "/admin/audit"): page(A.ADMINS),
    ("POST", "/admin/audit"): form(
        A.ADMINS, lambda _w: "/admin/audit", {"action": ""}, seen_by=SIGNED_IN
    ),
}
