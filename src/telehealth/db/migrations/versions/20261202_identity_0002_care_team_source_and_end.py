"""identity: care-team memberships record their source, who granted them, and when they end

Revision ID: identity_0002
Revises: identity_0001
Create Date: 2026-12-02 07:00:00.000000

A care assignment is the relationship that lets a clinician reach a patient's records. It now
says where it came from (``source``: visit booking, referral, enrollment, case claim,
coordinator assignment), who extended the care team (``granted_by``) and when it ends
(``ends_at``, NULL while it lasts). Rows from before this revision have no known origin: they
are backfilled with the source ``legacy``, no grantor and no end, so access stays as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0002"
down_revision: str | None = "identity_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEGACY = "legacy"


def upgrade() -> None:
    # Batch mode: SQLite adds a foreign key only by rebuilding the table (nothing points at
    # care_assignments, so the rebuild is safe).
    with op.batch_alter_table("care_assignments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=32), nullable=False, server_default=LEGACY)
        )
        batch_op.add_column(sa.Column("granted_by", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_care_assignments_granted_by_users"), "users", ["granted_by"], ["id"]
        )
    # The default only backfilled existing rows; new rows always name their source.
    with op.batch_alter_table("care_assignments", schema=None) as batch_op:
        batch_op.alter_column("source", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("care_assignments", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_care_assignments_granted_by_users"), type_="foreignkey"
        )
        batch_op.drop_column("ends_at")
        batch_op.drop_column("granted_by")
        batch_op.drop_column("source")
