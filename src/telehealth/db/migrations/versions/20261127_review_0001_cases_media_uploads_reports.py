"""Store-and-forward review: cases, media, uploads, questions, reports and billing.

Revision ID: review_0001
Revises: 0002
Create Date: 2026-11-27 09:28:10.039908
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "review_0001"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "review_cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("originator_id", sa.Uuid(), nullable=False),
        sa.Column("specialty", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("acuity", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("location_state", sa.String(length=2), nullable=False),
        sa.Column("payer", sa.String(length=16), nullable=False),
        sa.Column("setting", sa.String(length=16), nullable=False),
        sa.Column("controlled_substance_schedule", sa.String(length=4), nullable=True),
        sa.Column("requester_minutes", sa.Integer(), nullable=True),
        sa.Column("questionnaire_id", sa.String(length=64), nullable=False),
        sa.Column("questionnaire_version", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("established", sa.Boolean(), nullable=False),
        sa.Column("decision_id", sa.Uuid(), nullable=True),
        sa.Column("live_visit_reasons", sa.JSON(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewer_id", sa.Uuid(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decision_records.id"],
            name=op.f("fk_review_cases_decision_id_decision_records"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_review_cases_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["originator_id"], ["users.id"], name=op.f("fk_review_cases_originator_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_review_cases_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["users.id"], name=op.f("fk_review_cases_reviewer_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_cases")),
    )
    with op.batch_alter_table("review_cases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_review_cases_originator_id"), ["originator_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_review_cases_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            "ix_review_cases_queue", ["org_id", "specialty", "status", "due_at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_review_cases_reviewer_id"), ["reviewer_id"], unique=False
        )
        batch_op.create_index("ix_review_cases_status_due", ["status", "due_at"], unique=False)

    op.create_table(
        "review_billing",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("billing_clinician_id", sa.Uuid(), nullable=False),
        sa.Column("encounter", sa.JSON(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("codeset_revision", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["billing_clinician_id"],
            ["users.id"],
            name=op.f("fk_review_billing_billing_clinician_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["review_cases.id"], name=op.f("fk_review_billing_case_id_review_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_billing")),
    )
    with op.batch_alter_table("review_billing", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_billing_case_id"), ["case_id"], unique=False)

    op.create_table(
        "review_info_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("asked_by", sa.Uuid(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.Uuid(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["answered_by"], ["users.id"], name=op.f("fk_review_info_requests_answered_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["asked_by"], ["users.id"], name=op.f("fk_review_info_requests_asked_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["review_cases.id"],
            name=op.f("fk_review_info_requests_case_id_review_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_info_requests")),
    )
    with op.batch_alter_table("review_info_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_review_info_requests_case_id"), ["case_id"], unique=False
        )

    op.create_table(
        "review_media",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("upload_sha256", sa.String(length=64), nullable=False),
        sa.Column("blob_id", sa.String(length=32), nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["review_cases.id"], name=op.f("fk_review_media_case_id_review_cases")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_review_media_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["users.id"], name=op.f("fk_review_media_uploaded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_media")),
        sa.UniqueConstraint("blob_id", name=op.f("uq_review_media_blob_id")),
    )
    with op.batch_alter_table("review_media", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_media_case_id"), ["case_id"], unique=False)

    op.create_table(
        "review_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("assessment", sa.Text(), nullable=False),
        sa.Column("diagnosis_codes", sa.JSON(), nullable=False),
        sa.Column("recommendation", sa.String(length=32), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=True),
        sa.Column("verbal_discussion", sa.Boolean(), nullable=False),
        sa.Column("amendment_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_review_reports_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["review_cases.id"], name=op.f("fk_review_reports_case_id_review_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_reports")),
        sa.UniqueConstraint("case_id", "seq", name="uq_review_reports_case_seq"),
    )
    with op.batch_alter_table("review_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_reports_case_id"), ["case_id"], unique=False)

    op.create_table(
        "review_uploads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("declared_kind", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("blob_id", sa.String(length=32), nullable=False),
        sa.Column("media_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["review_cases.id"], name=op.f("fk_review_uploads_case_id_review_cases")
        ),
        sa.ForeignKeyConstraint(
            ["media_id"], ["review_media.id"], name=op.f("fk_review_uploads_media_id_review_media")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_review_uploads_owner_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_review_uploads_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_uploads")),
    )
    with op.batch_alter_table("review_uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_uploads_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_review_uploads_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_review_uploads_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_uploads_owner_id"))
        batch_op.drop_index(batch_op.f("ix_review_uploads_expires_at"))
        batch_op.drop_index(batch_op.f("ix_review_uploads_case_id"))

    op.drop_table("review_uploads")
    with op.batch_alter_table("review_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_reports_case_id"))

    op.drop_table("review_reports")
    with op.batch_alter_table("review_media", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_media_case_id"))

    op.drop_table("review_media")
    with op.batch_alter_table("review_info_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_info_requests_case_id"))

    op.drop_table("review_info_requests")
    with op.batch_alter_table("review_billing", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_billing_case_id"))

    op.drop_table("review_billing")
    with op.batch_alter_table("review_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_review_cases_status_due")
        batch_op.drop_index(batch_op.f("ix_review_cases_reviewer_id"))
        batch_op.drop_index("ix_review_cases_queue")
        batch_op.drop_index(batch_op.f("ix_review_cases_patient_id"))
        batch_op.drop_index(batch_op.f("ix_review_cases_originator_id"))

    op.drop_table("review_cases")
