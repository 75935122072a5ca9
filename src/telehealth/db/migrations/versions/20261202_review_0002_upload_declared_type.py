"""review: an upload keeps the type its client declared, not only that type's kind

Revision ID: review_0002
Revises: review_0001
Create Date: 2026-12-02 06:30:00.000000

A JPEG declared as a PNG is of the declared kind (an image) but not of the declared type; the
first bytes are now checked against the type itself. Uploads opened before this revision have
no declared type and are still checked against their declared kind.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "review_0002"
down_revision: str | None = "review_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("review_uploads", sa.Column("declared_type", sa.String(length=32), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35 and later), as in visits_0002.
    op.drop_column("review_uploads", "declared_type")
