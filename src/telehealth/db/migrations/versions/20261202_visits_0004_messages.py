"""visits: messages of a visit (the in-call chat and the clinician's word to the waiting room)

Revision ID: visits_0004
Revises: visits_0003
Create Date: 2026-12-02 19:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "visits_0004"
down_revision: str | None = "visits_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visit_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_visit_messages_visit_id_visits")
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["visit_participants.id"],
            name=op.f("fk_visit_messages_sender_id_visit_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_messages")),
    )
    op.create_index(op.f("ix_visit_messages_visit_id"), "visit_messages", ["visit_id"])


def downgrade() -> None:
    op.drop_index("ix_visit_messages_visit_id", table_name="visit_messages")
    op.drop_table("visit_messages")
