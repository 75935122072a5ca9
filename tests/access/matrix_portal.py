"""Access-matrix entries for the portal pages (merged into tests/access/test_matrix.py)."""

from __future__ import annotations

from tests.access.matrix import Entry

ENTRIES: dict[tuple[str, str], Entry] = {
    ("GET", "/portal/visits/{visit_id}/intake"): Entry("page"),
    ("POST", "/portal/visits/{visit_id}/intake"): Entry("page"),
    ("POST", "/portal/visits/{visit_id}/intake/complete"): Entry("page"),
    ("GET", "/portal/visits/{visit_id}/context"): Entry("page"),
    ("GET", "/portal/decisions/{decision_id}"): Entry("page"),
    ("GET", "/admin/queues"): Entry("page"),
}
