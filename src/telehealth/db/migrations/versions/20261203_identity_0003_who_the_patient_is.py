"""identity: patients' record numbers and sex, clinicians' languages, everyone's time zone

Revision ID: identity_0003
Revises: identity_0002
Create Date: 2026-12-03 08:00:00.000000

Staff tell patients apart by a record number: each existing patient gets one here (random, in
the same form new ones take), unique within the organization. ``sex`` is the administrative sex
(FHIR AdministrativeGender), NULL where it was never recorded. Clinicians' languages default to
English, the language every existing visit was held in. ``users.time_zone`` is the zone a person
reads times in; NULL keeps their browser's zone.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0003"
down_revision: str | None = "identity_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The record-number form of telehealth.identity.model at this revision (Crockford's base 32).
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _record_number() -> str:
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def upgrade() -> None:
    op.add_column("users", sa.Column("time_zone", sa.String(length=64), nullable=True))
    op.add_column(
        "clinician_profiles",
        sa.Column("languages", sa.JSON(), nullable=False, server_default='["en"]'),
    )
    op.add_column("patients", sa.Column("sex", sa.String(length=16), nullable=True))
    # Plain ADD COLUMNs with defaults that only fill existing rows (the application writes every
    # new row's values): SQLite could otherwise make a column NOT NULL only by rebuilding the
    # table, and other tables' rows refer to patients.
    op.add_column(
        "patients",
        sa.Column("record_number", sa.String(length=16), nullable=False, server_default=""),
    )
    _number_existing_patients()
    op.create_index(
        "ix_patients_org_record_number", "patients", ["org_id", "record_number"], unique=True
    )


def _number_existing_patients() -> None:
    conn = op.get_bind()
    patients = sa.table("patients", sa.column("id", sa.Uuid()), sa.column("record_number"))
    ids = conn.execute(sa.select(patients.c.id)).scalars().all()
    numbers: set[str] = set()
    for patient_id in ids:
        number = _record_number()
        while number in numbers:
            number = _record_number()
        numbers.add(number)
        conn.execute(
            patients.update().where(patients.c.id == patient_id).values(record_number=number)
        )


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35 and later): a batch rebuild would drop tables that other
    # tables' rows refer to.
    op.drop_index("ix_patients_org_record_number", table_name="patients")
    op.drop_column("patients", "record_number")
    op.drop_column("patients", "sex")
    op.drop_column("clinician_profiles", "languages")
    op.drop_column("users", "time_zone")
