"""Access-matrix entries for the portal pages (merged into tests/access/test_matrix.py)."""

from __future__ import annotations

from tests.access.matrix import Entry

ENTRIES: dict[tuple[str, str], Entry] = {}
