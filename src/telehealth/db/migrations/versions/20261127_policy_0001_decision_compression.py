"""policy: stored decision documents compress with LZ4 on PostgreSQL

Revision ID: policy_0001
Revises: 0002
Create Date: 2026-11-27 12:35:00.000000

A decision document is about 8 KB of JSON, so PostgreSQL compresses it out of line on every
insert; LZ4 does that several times faster than the default pglz, which matters when decisions
are stored at request rate. SQLite stores the text as it is, so there is nothing to change.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "policy_0001"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("decision", "masked_facts")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.execute(f"ALTER TABLE decision_records ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.execute(f"ALTER TABLE decision_records ALTER COLUMN {column} SET COMPRESSION default")
