"""visits: presence rows name their signaling socket; an open socket's join carries its last
heartbeat

A join and its leave share ``connection_id`` (random, one per WebSocket). ``last_seen`` is set
on a join while its socket is open and refreshed by the instance holding it; it is cleared
when the leave is written, so the open sockets are exactly the rows with a ``last_seen``.
Rows written before this revision have neither and are read as before.

Revision ID: visits_0005
Revises: visits_0004
Create Date: 2026-12-03 18:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "visits_0005"
down_revision: str | None = "visits_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("visit_presence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("connection_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_visit_presence_connection_id"), ["connection_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_visit_presence_last_seen"), ["last_seen"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("visit_presence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_presence_last_seen"))
        batch_op.drop_index(batch_op.f("ix_visit_presence_connection_id"))
        batch_op.drop_column("last_seen")
        batch_op.drop_column("connection_id")
