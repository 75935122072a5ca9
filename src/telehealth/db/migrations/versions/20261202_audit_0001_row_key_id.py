"""audit: each row records the audit key its HMAC was made with

Revision ID: audit_0001
Revises: 0004
Create Date: 2026-12-02 06:00:00.000000

Rows written before this revision keep a NULL key id and their plain SHA-256 hashes, which
verify as before; the keyed chain of each chain starts at its first row written after it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "audit_0001"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("key_id", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_events", "key_id")
