"""fhir bulk exports: the exports asked for ($export) and the NDJSON files each wrote

Revision ID: fhir_bulk_0001
Revises: 0004
Create Date: 2026-12-03 18:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "fhir_bulk_0001"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fhir_exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request_url", sa.String(length=2000), nullable=False),
        sa.Column("types", sa.String(length=2000), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transaction_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_fhir_exports_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["users.id"], name=op.f("fk_fhir_exports_requester_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_exports")),
    )
    op.create_index("ix_fhir_exports_status", "fhir_exports", ["status", "requested_at"])
    op.create_index("ix_fhir_exports_expires", "fhir_exports", ["expires_at"])
    op.create_table(
        "fhir_export_files",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["fhir_exports.id"],
            name=op.f("fk_fhir_export_files_export_id_fhir_exports"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_export_files")),
    )
    op.create_index("ix_fhir_export_files_export", "fhir_export_files", ["export_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_fhir_export_files_export", table_name="fhir_export_files")
    op.drop_table("fhir_export_files")
    op.drop_index("ix_fhir_exports_expires", table_name="fhir_exports")
    op.drop_index("ix_fhir_exports_status", table_name="fhir_exports")
    op.drop_table("fhir_exports")
