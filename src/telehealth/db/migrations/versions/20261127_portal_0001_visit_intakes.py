"""portal: pre-visit intakes linking a scheduled visit to its intake case

Revision ID: portal_0001
Revises: review_0001, visits_0001
Create Date: 2026-11-27 10:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "portal_0001"
down_revision: str | Sequence[str] | None = ("review_0001", "visits_0001")
branch_labels: str | Sequence[str] | None = None
# The intake references visits and review cases: this revision joins their branches.
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visit_intakes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["review_cases.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
        sa.UniqueConstraint("visit_id"),
    )
    with op.batch_alter_table("visit_intakes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_visit_intakes_patient_id"), ["patient_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("visit_intakes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_intakes_patient_id"))
    op.drop_table("visit_intakes")
