"""Access-matrix entries for the portal pages (merged into tests/access/test_matrix.py)."""

from __future__ import annotations

from tests.access.matrix import Entry

ENTRIES: dict[tuple[str, str], Entry] = {
    ("GET", "/invite"): Entry("page_public"),
    ("GET", "/portal/visits/{visit_id}/intake"): Entry("page"),
    ("POST", "/portal/visits/{visit_id}/intake"): Entry("page"),
    ("POST", "/portal/visits/{visit_id}/intake/complete"): Entry("page"),
    ("GET", "/portal/visits/{visit_id}/context"): Entry("page"),
    ("GET", "/portal/decisions/{decision_id}"): Entry("page"),
    ("GET", "/portal/alerts"): Entry("page"),
    ("POST", "/portal/alerts/{alert_id}"): Entry("page"),
    ("GET", "/admin/users"): Entry("page"),
    ("POST", "/admin/users"): Entry("page"),
    ("POST", "/admin/patients"): Entry("page"),
    ("GET", "/admin/clinicians/{clinician_id}"): Entry("page"),
    ("POST", "/admin/clinicians/{clinician_id}/licenses"): Entry("page"),
    ("POST", "/admin/clinicians/{clinician_id}/dea"): Entry("page"),
    ("GET", "/admin/schedules"): Entry("page"),
    ("POST", "/admin/schedules/{clinician_id}/windows"): Entry("page"),
    ("GET", "/admin/queues"): Entry("page"),
    ("GET", "/admin/audit"): Entry("page"),
    ("POST", "/admin/audit"): Entry("page"),
}
