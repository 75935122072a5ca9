"""The FHIR Bulk Data exports: one row per export asked for, one per NDJSON file it wrote.

The files' contents are encrypted blobs (the review uploads' store, ``Ports.uploads.blobs``);
the rows hold only what the status manifest lists: resource type, count, blob id.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from telehealth.db.base import Base, UTCDateTime, new_id


class FhirExport(Base):
    """An export a coordinator or administrator asked for (``$export``). ``status`` is
    ``accepted`` until the export job has written its files (``complete``) or given up
    (``failed``); ``expires_at`` is when its files go. Cancelled and expired exports are
    deleted with their files."""

    __tablename__ = "fhir_exports"
    __table_args__ = (
        Index("ix_fhir_exports_status", "status", "requested_at"),
        Index("ix_fhir_exports_expires", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    # The organization's id for ``Group/{id}/$export``; None for ``Patient/$export``.
    group_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    status: Mapped[str] = mapped_column(String(16))
    # The kick-off request's URL, as the manifest's ``request`` repeats it.
    request_url: Mapped[str] = mapped_column(String(2000))
    # The resource types to export, comma-separated, in the order they are written.
    types: Mapped[str] = mapped_column(String(2000))
    since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When the export's searches ran (the manifest's ``transactionTime``).
    transaction_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why an export failed, as a code (never PHI).
    failure: Mapped[str | None] = mapped_column(String(64))


class FhirExportFile(Base):
    """One NDJSON file of an export: ``count`` resources of one type, ``seq`` its place among
    the export's files."""

    __tablename__ = "fhir_export_files"
    __table_args__ = (Index("ix_fhir_export_files_export", "export_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    export_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fhir_exports.id"))
    seq: Mapped[int] = mapped_column(Integer())
    resource_type: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer())
    blob_id: Mapped[str] = mapped_column(String(64))
