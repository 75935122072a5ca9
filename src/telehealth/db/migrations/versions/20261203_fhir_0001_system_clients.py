"""fhir: registered system clients (SMART Backend Services) and their used assertions

Revision ID: fhir_0001
Revises: identity_0005
Create Date: 2026-12-03 18:30:00.000000

``fhir_clients`` holds each client's public JWKS, the system scopes it may be granted and the
service account (``users.system_client``) its tokens act as; ``fhir_client_assertions`` keeps
each used assertion's ``jti`` until the assertion expires, so none is accepted twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "fhir_0001"
down_revision: str | None = "identity_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fhir_clients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("jwks", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.String(length=1000), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_fhir_clients_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_fhir_clients_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_fhir_clients_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_clients")),
        sa.UniqueConstraint("user_id", name=op.f("uq_fhir_clients_user_id")),
    )
    op.create_index(op.f("ix_fhir_clients_org_id"), "fhir_clients", ["org_id"], unique=False)
    op.create_table(
        "fhir_client_assertions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["fhir_clients.id"],
            name=op.f("fk_fhir_client_assertions_client_id_fhir_clients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_client_assertions")),
        sa.UniqueConstraint("client_id", "jti", name=op.f("uq_fhir_client_assertions_client_id")),
    )
    op.create_index(
        op.f("ix_fhir_client_assertions_expires_at"),
        "fhir_client_assertions",
        ["expires_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_fhir_client_assertions_expires_at"), table_name="fhir_client_assertions")
    op.drop_table("fhir_client_assertions")
    op.drop_index(op.f("ix_fhir_clients_org_id"), table_name="fhir_clients")
    op.drop_table("fhir_clients")
