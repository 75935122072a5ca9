"""audit search indexes in the listing's full order

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 15:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILTERS = ("org_id", "patient_id", "actor_id")


def upgrade() -> None:
    # Events of one moment (one request's, or a frozen test clock's) are listed by chain and
    # sequence: with both in the index, the newest rows are read in order, never sorted.
    for column in FILTERS:
        op.create_index(
            f"ix_audit_events_{column}_order", "audit_events", [column, "at", "chain", "seq"]
        )
        op.drop_index(f"ix_audit_events_{column}_at", table_name="audit_events")


def downgrade() -> None:
    for column in FILTERS:
        op.create_index(f"ix_audit_events_{column}_at", "audit_events", [column, "at"])
        op.drop_index(f"ix_audit_events_{column}_order", table_name="audit_events")
