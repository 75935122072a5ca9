"""visits: each visit keeps the time zone its slot was offered in

Revision ID: visits_0002
Revises: visits_0001
Create Date: 2026-11-27 23:30:00.000000

Dashboards list a visit under today's schedule by its clinician's day, not UTC's. Visits booked
before this revision take the time zone of their clinician's availability (one per clinician),
or UTC for a clinician who has none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "visits_0002"
down_revision: str | None = "visits_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "visits",
        sa.Column("time_zone", sa.String(length=64), nullable=False, server_default="UTC"),
    )
    op.execute(
        "UPDATE visits SET time_zone = COALESCE("
        "(SELECT MIN(a.time_zone) FROM visit_availability a"
        " WHERE a.clinician_id = visits.clinician_id), 'UTC')"
    )


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35 and later): rebuilding the table in batch mode would
    # drop a table other tables' rows refer to.
    op.drop_column("visits", "time_zone")
