"""The queries of the FHIR Bulk Data exports (``fhir_exports``, ``fhir_export_files``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from telehealth.db.base import table_of
from telehealth.fhir.export_tables import FhirExport, FhirExportFile

ACCEPTED = "accepted"
COMPLETE = "complete"
FAILED = "failed"


def export_by_id(session: Session, export_id: uuid.UUID, lock: bool = False) -> FhirExport | None:
    query = select(FhirExport).where(FhirExport.id == export_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def accepted(session: Session, limit: int) -> list[uuid.UUID]:
    """Exports waiting for the export job, oldest first."""
    query = (
        select(FhirExport.id)
        .where(FhirExport.status == ACCEPTED)
        .order_by(FhirExport.requested_at, FhirExport.id)
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def finish(
    session: Session,
    export_id: uuid.UUID,
    *,
    status: str,
    transaction_time: datetime | None,
    expires_at: datetime,
    failure: str | None = None,
) -> bool:
    """Ends an accepted export (complete or failed); False if it is no longer waiting
    (cancelled, or ended by another run meanwhile): the caller then keeps nothing it wrote."""
    table = table_of(FhirExport)
    done = session.execute(
        update(table)
        .where(table.c.id == export_id, table.c.status == ACCEPTED)
        .values(
            status=status,
            transaction_time=transaction_time,
            expires_at=expires_at,
            failure=failure,
        )
        .returning(table.c.id)
    ).scalar_one_or_none()
    return done is not None


def files_of(session: Session, export_id: uuid.UUID) -> Sequence[FhirExportFile]:
    query = (
        select(FhirExportFile)
        .where(FhirExportFile.export_id == export_id)
        .order_by(FhirExportFile.seq)
    )
    return session.execute(query).scalars().all()


def file_of(session: Session, export_id: uuid.UUID, file_id: uuid.UUID) -> FhirExportFile | None:
    query = select(FhirExportFile).where(
        FhirExportFile.export_id == export_id, FhirExportFile.id == file_id
    )
    return session.execute(query).scalar_one_or_none()


def expired(session: Session, now: datetime, limit: int) -> list[uuid.UUID]:
    query = (
        select(FhirExport.id)
        .where(FhirExport.expires_at <= now)
        .order_by(FhirExport.expires_at, FhirExport.id)
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def delete_export(session: Session, export_id: uuid.UUID) -> list[str]:
    """Deletes an export and its file rows; the blob ids its files were in."""
    files = table_of(FhirExportFile)
    blobs = session.execute(
        delete(files).where(files.c.export_id == export_id).returning(files.c.blob_id)
    )
    gone = list(blobs.scalars())
    exports = table_of(FhirExport)
    session.execute(delete(exports).where(exports.c.id == export_id))
    return gone
