"""identity: clinicians' licensed discipline

Revision ID: identity_0004
Revises: identity_0003
Create Date: 2026-12-03 15:00:00.000000

``clinician_profiles.discipline`` is the clinician's licensed discipline (physician, np, pa,
psychologist, lcsw, pt, ...), set by administrators; NULL where it was never recorded, as for
every existing clinician, whose decisions keep inferring it from the specialty.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0004"
down_revision: str | None = "identity_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "clinician_profiles", sa.Column("discipline", sa.String(length=16), nullable=True)
    )


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35 and later): a batch rebuild would drop a table that
    # licenses and DEA registrations refer to.
    op.drop_column("clinician_profiles", "discipline")
