"""audit search indexes: filter column and time together

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 12:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each single-column index is the leading part of its replacement, so no lookup loses one.
FILTERS = ("org_id", "patient_id", "actor_id")


def upgrade() -> None:
    for column in FILTERS:
        op.create_index(f"ix_audit_events_{column}_at", "audit_events", [column, "at"])
        op.drop_index(f"ix_audit_events_{column}", table_name="audit_events")


def downgrade() -> None:
    for column in FILTERS:
        op.create_index(f"ix_audit_events_{column}", "audit_events", [column])
        op.drop_index(f"ix_audit_events_{column}_at", table_name="audit_events")
