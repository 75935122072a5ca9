"""monitoring: the value an alert measured (the reading that breached its limit)

Revision ID: monitoring_0002
Revises: monitoring_0001
Create Date: 2026-12-02 19:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "monitoring_0002"
down_revision: str | None = "monitoring_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("monitoring_alerts", sa.Column("observed_value", sa.Float(), nullable=True))
    # Alerts raised before this column: the reading of the alert's measurement at its time.
    op.execute(
        "UPDATE monitoring_alerts SET observed_value = ("
        " SELECT MAX(r.value) FROM monitoring_readings r"
        " WHERE r.enrollment_id = monitoring_alerts.enrollment_id"
        " AND r.metric = monitoring_alerts.metric"
        " AND r.effective_at = monitoring_alerts.observed_at)"
        " WHERE metric IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("monitoring_alerts") as batch:
        batch.drop_column("observed_value")
