"""identity: SMART scopes on API tokens, and system clients' service accounts

Revision ID: identity_0005
Revises: identity_0004
Create Date: 2026-12-03 18:00:00.000000

``api_tokens.scopes`` holds the SMART scopes a token is limited to (NULL: all of its user's
access, as every existing token). ``users.system_client`` marks the service account a
registered SMART Backend Services client acts as (false for every existing account).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0005"
down_revision: str | None = "identity_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("scopes", sa.String(length=1000), nullable=True))
    op.add_column(
        "users",
        sa.Column("system_client", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35 and later): a batch rebuild would drop tables that
    # others refer to.
    op.drop_column("users", "system_client")
    op.drop_column("api_tokens", "scopes")
