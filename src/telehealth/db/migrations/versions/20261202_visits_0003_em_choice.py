"""visits: the E/M level the clinician chose, and how (medical decision making or total time)

Revision ID: visits_0003
Revises: visits_0002
Create Date: 2026-12-02 14:10:00.000000

Ending a visit without a level no longer bills 99213 (99203 for a new patient): the coding
result carries a finding instead, and the clinician chooses the level afterwards. Visits ended
before this revision keep their stored coding; their level was never chosen, so both columns
stay NULL and the visit record offers the choice.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "visits_0003"
down_revision: str | None = "visits_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("visits", sa.Column("em_code", sa.String(length=5), nullable=True))
    op.add_column("visits", sa.Column("em_basis", sa.String(length=8), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35 and later), as in visits_0002.
    op.drop_column("visits", "em_basis")
    op.drop_column("visits", "em_code")
