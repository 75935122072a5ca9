"""FHIR Bulk Data export (Bulk Data Access IG v2, the asynchronous request pattern).

``Patient/$export`` and ``Group/{organization id}/$export`` ask for an export of the
organization's patients' data (coordinators and administrators only); the export job
(:mod:`telehealth.fhir.jobs`) runs it later, acting as the requester, through each resource
type's own ``search`` -- the access rules and the audit of the API's searches, each resource
audited as a read ``via`` export -- and writes NDJSON files of at most
``TELEHEALTH_FHIR_EXPORT_FILE_RESOURCES`` resources into the encrypted blob store. The
requester polls ``bulkstatus/{id}`` and downloads ``bulkfiles/{id}/{file}``; anyone else gets
404, exactly as for a missing export. Files expire after ``TELEHEALTH_FHIR_EXPORT_HOURS``:
the expiry job deletes their blobs and rows, and an expired export answers 404 (ADR 0022).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import orjson

from telehealth.access import loader
from telehealth.access.service import record_denial
from telehealth.audit.model import Action
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.fhir import export_repository as repository
from telehealth.fhir import service, smart
from telehealth.fhir.catalog import RESOURCE_TYPES, by_name
from telehealth.fhir.export_tables import FhirExport, FhirExportFile
from telehealth.fhir.model import MAX_COUNT, Resource, Search, instant, invalid
from telehealth.fhir.patient import PATIENT
from telehealth.fhir.registry import Emitted, ResourceType
from telehealth.identity import queries as identity_queries
from telehealth.identity import service as identity
from telehealth.identity.model import Role
from telehealth.logging import get_logger
from telehealth.scope import Scope, open_scope

log = get_logger("telehealth.fhir.bulk")
T = TypeVar("T")

NDJSON = "application/fhir+ndjson"
# ``_outputFormat`` values meaning NDJSON (the IG's abbreviations; a ``+`` may arrive as a
# space when a client leaves it unescaped in the query string).
OUTPUT_FORMATS = frozenset({NDJSON, "application/ndjson", "ndjson"})
EXPORTERS = frozenset({Role.COORDINATOR, Role.ADMIN})
# Exports started per run of the export job; the rest wait for its next tick.
EXPORTS_PER_RUN = 5
EXPIRED_PER_RUN = 100
FILE_KIND = "fhir_export_file"


def _subject(export: FhirExport) -> loader.Subject:
    return loader.Subject(export.org_id, None, frozenset({export.requester_id}))


EXPORT = loader.register(loader.Kind("fhir_export", "export", repository.export_by_id, _subject))


# --- kick-off --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Asked:
    """A kick-off request's parameters, as received."""

    types: str | None
    since: str | None
    output_format: str | None
    prefer: str | None
    request_url: str
    unknown: tuple[str, ...] = ()


def kick_off(scope: Scope, asked: Asked, group_id: str | None = None) -> FhirExport:
    """Accepts an export of the actor's organization's patients (``group_id``: the
    organization's id, for ``Group/{id}/$export``). Refusals in the one order: 403 for a role
    that never exports, 404 for a Group that is not the actor's organization, 400 for the
    request itself."""
    actor = scope.require_actor()
    if actor.role not in EXPORTERS:
        raise DomainError(
            ErrorCode.FORBIDDEN, "only an organization's coordinators and administrators export"
        )
    group = _group(scope, group_id)
    if not _respond_async(asked.prefer):
        raise invalid("a bulk export needs the header Prefer: respond-async", "Prefer")
    if asked.unknown and "handling=strict" in (asked.prefer or "").replace(" ", ""):
        raise invalid(f"unsupported export parameter: {asked.unknown[0]}", asked.unknown[0])
    fmt = (asked.output_format or NDJSON).replace(" ", "+")
    if fmt not in OUTPUT_FORMATS:
        raise invalid("_outputFormat: only application/fhir+ndjson is offered", "_outputFormat")
    kinds = export_types(asked.types)
    for kind in kinds:
        smart.require(scope, kind, smart.Interaction.SEARCH)
    export = FhirExport(
        id=uuid.uuid4(),
        org_id=actor.org_id,
        requester_id=actor.user_id,
        group_id=group,
        status=repository.ACCEPTED,
        request_url=asked.request_url[:2000],
        types=",".join(kind.name for kind in kinds),
        since=parse_since(asked.since),
        requested_at=scope.clock.now(),
    )
    scope.session.add(export)
    scope.session.flush()
    scope.audit.record(
        Action.EXPORT, EXPORT.name, export.id, detail={"stage": "requested", "types": export.types}
    )
    return export


def _group(scope: Scope, group_id: str | None) -> uuid.UUID | None:
    """The Group an export names: the actor's organization (all its patients); any other id
    is a missing Group."""
    if group_id is None:
        return None
    actor = scope.require_actor()
    try:
        wanted = uuid.UUID(group_id)
    except ValueError:
        wanted = None
    if wanted != actor.org_id:
        record_denial(scope, "group", wanted)
        raise not_found("group")
    return wanted


def _respond_async(prefer: str | None) -> bool:
    parts = (prefer or "").replace(";", ",").split(",")
    return any(part.strip() == "respond-async" for part in parts)


def export_types(value: str | None) -> tuple[ResourceType, ...]:
    """``_type`` as resource types of the catalog (every type when absent), in the order
    asked."""
    if value is None or not value.strip():
        return RESOURCE_TYPES
    kinds: list[ResourceType] = []
    for name in (part.strip() for part in value.split(",")):
        kind = by_name(name)
        if kind is None:
            raise invalid(f"_type: {name[:64]} is not a resource type this server exports", "_type")
        if kind not in kinds:
            kinds.append(kind)
    return tuple(kinds)


def parse_since(value: str | None) -> datetime | None:
    """``_since`` as an aware moment: a FHIR instant (a time with its zone)."""
    if value is None or not value.strip():
        return None
    text = value.strip().replace(" ", "+").replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise invalid("_since must be a FHIR instant", "_since") from None
    if moment.tzinfo is None or "T" not in text:
        raise invalid("_since must be a FHIR instant, with a time and its zone", "_since")
    return moment


# --- status, files, cancel -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pending:
    """An export still running: what ``X-Progress`` says."""

    progress: str


def readable_export(scope: Scope, export_id: uuid.UUID) -> FhirExport:
    """The actor's own export, not expired; anyone else's, or an expired one, is not found."""
    export = loader.load(scope, EXPORT, export_id)
    if export.expires_at is not None and export.expires_at <= scope.clock.now():
        raise not_found(EXPORT.missing)
    return export


def status(scope: Scope, export_id: uuid.UUID, base: str) -> Pending | Resource:
    """The export's progress while it runs, its manifest once complete."""
    export = readable_export(scope, export_id)
    if export.status == repository.ACCEPTED:
        return Pending("queued")
    if export.status == repository.FAILED:
        raise DomainError(ErrorCode.INTERNAL, "the export failed; ask for it again")
    files = repository.files_of(scope.session, export.id)
    assert export.transaction_time is not None
    return {
        "transactionTime": instant(export.transaction_time),
        "request": export.request_url,
        "requiresAccessToken": True,
        "output": [
            {
                "type": f.resource_type,
                "url": f"{base}/bulkfiles/{export.id}/{f.id}",
                "count": f.count,
            }
            for f in files
        ],
        "error": [],
    }


def download(scope: Scope, export_id: uuid.UUID, file_id: uuid.UUID) -> Iterator[bytes]:
    """One file of the actor's complete export, decrypted as it streams; the download is
    audited (each resource in it was audited as read when the export ran)."""
    export = readable_export(scope, export_id)
    found = None
    if export.status == repository.COMPLETE:
        found = repository.file_of(scope.session, export.id, file_id)
    if found is None:
        raise not_found("export file")
    scope.audit.record(
        Action.DOWNLOAD,
        FILE_KIND,
        found.id,
        detail={"export": str(export.id), "type": found.resource_type, "count": found.count},
    )
    return scope.ports.uploads.blobs.open(found.blob_id)


def cancel(scope: Scope, export_id: uuid.UUID) -> None:
    """Cancels the actor's export, running or done: its files go, and it answers 404 after."""
    export = readable_export(scope, export_id)
    _discard(scope, export.id)
    scope.audit.record(Action.DELETE, EXPORT.name, export.id, detail={"stage": "cancelled"})


def _discard(scope: Scope, export_id: uuid.UUID) -> None:
    """Deletes an export's rows, and its blobs once that is committed."""
    blob_ids = repository.delete_export(scope.session, export_id)
    blobs = scope.ports.uploads.blobs

    def delete_blobs() -> None:
        for blob_id in blob_ids:
            blobs.delete(blob_id)

    scope.uow.after_commit(delete_blobs)


# --- the export job --------------------------------------------------------------------------


def run_accepted(scope: Scope) -> int:
    """Runs the exports waiting, each in a unit of work of its own acting as its requester;
    how many resources they wrote. The job's own unit of work stays idle (on SQLite a unit
    of work holds the write lock)."""
    waiting = _in_own_scope(
        scope, "list", lambda s: repository.accepted(s.session, EXPORTS_PER_RUN)
    )
    return sum(run_export(scope, export_id) for export_id in waiting)


def run_export(scope: Scope, export_id: uuid.UUID) -> int:
    """Runs one accepted export now (the job, and tests, inline); how many resources it
    wrote. A failure ends the export as failed; nothing it wrote is kept."""
    try:
        return _in_own_scope(scope, export_id.hex[:8], lambda s: _run(s, export_id))
    except _Cancelled:
        return 0
    except Exception as exc:
        log.exception("fhir_export_failed", export=str(export_id))
        reason = exc.code.value if isinstance(exc, DomainError) else "internal"
        _in_own_scope(scope, "failed", lambda s: _fail(s, export_id, reason))
        return 0


class _Cancelled(Exception):
    """The export was cancelled while it ran: nothing it wrote is kept."""


def _in_own_scope(scope: Scope, name: str, work: Callable[[Scope], T]) -> T:
    own = open_scope(scope.uow.factory, scope.ports, request_id=f"{scope.request_id}-{name}")
    try:
        done = work(own)
        own.uow.commit()
    finally:
        own.uow.close()
    return done


def _fail(scope: Scope, export_id: uuid.UUID, reason: str) -> None:
    expires = scope.clock.now() + timedelta(hours=scope.settings.fhir_export_hours)
    repository.finish(
        scope.session,
        export_id,
        status=repository.FAILED,
        transaction_time=None,
        expires_at=expires,
        failure=reason[:64],
    )


def _run(scope: Scope, export_id: uuid.UUID) -> int:
    export = repository.export_by_id(scope.session, export_id)
    if export is None or export.status != repository.ACCEPTED:
        return 0
    user = identity_queries.user_by_id(scope.session, export.requester_id)
    if user is None or not user.active or Role(user.role) not in EXPORTERS:
        raise DomainError(ErrorCode.FORBIDDEN, "the requester may no longer export")
    scope.act_as(identity.system_actor_for(scope, user))
    started = scope.clock.now()
    files = _Files(scope, export.id)
    # Types the catalog no longer serves are left out.
    kinds = [kind for kind in map(by_name, export.types.split(",")) if kind is not None]
    patients = _patient_ids(scope) if any(_by_patient(kind) for kind in kinds) else []
    for kind in kinds:
        for page in _pages(scope, kind, patients):
            kept = [e for e in page if _changed_since(e.resource, export.since)]
            service.audit_search(scope, kept, via="export")
            files.add(kind.name, kept)
        files.close(kind.name)
    expires = scope.clock.now() + timedelta(hours=scope.settings.fhir_export_hours)
    if not repository.finish(
        scope.session,
        export.id,
        status=repository.COMPLETE,
        transaction_time=started,
        expires_at=expires,
    ):
        # Cancelled meanwhile: keep nothing (the rollback deletes the blobs written).
        raise _Cancelled
    scope.audit.record(
        Action.EXPORT, EXPORT.name, export.id, detail={"stage": "complete", "items": files.total}
    )
    return files.total


def _by_patient(kind: ResourceType) -> bool:
    return "patient" in kind.param_names


def _patient_ids(scope: Scope) -> list[uuid.UUID]:
    """The patients the requester's Patient search finds, read once for every type exported
    patient by patient."""
    return [e.object_id for page in _paged(scope, PATIENT, {}) for e in page]


def _pages(
    scope: Scope, kind: ResourceType, patients: Sequence[uuid.UUID]
) -> Iterator[Sequence[Emitted]]:
    """What the requester's search of ``kind`` finds for the organization's ``patients``:
    patient by patient where the type searches by ``patient`` (some types search one
    patient's record at a time), else the type's whole search."""
    if not _by_patient(kind):
        yield from _paged(scope, kind, {})
        return
    for patient_id in patients:
        yield from _paged(scope, kind, {"patient": [str(patient_id)]})


def _paged(
    scope: Scope, kind: ResourceType, params: dict[str, list[str]]
) -> Iterator[Sequence[Emitted]]:
    offset = 0
    while True:
        page = kind.search(scope, Search(params, count=MAX_COUNT, offset=offset))
        yield [*page.matches, *page.included]
        if not page.more:
            return
        offset += MAX_COUNT


def _changed_since(resource: Resource, since: datetime | None) -> bool:
    if since is None:
        return True
    updated = resource.get("meta", {}).get("lastUpdated")
    if not isinstance(updated, str):
        return True  # no time to tell by: exported
    return datetime.fromisoformat(updated.replace("Z", "+00:00")) >= since


class _Files:
    """The export's NDJSON files as they fill: one resource per line, at most the setting's
    number of resources per file, each file an encrypted blob."""

    def __init__(self, scope: Scope, export_id: uuid.UUID) -> None:
        self._scope = scope
        self._export_id = export_id
        self._limit = scope.settings.fhir_export_file_resources
        self._lines: list[bytes] = []
        self._seq = 0
        self.total = 0

    def add(self, resource_type: str, emitted: Sequence[Emitted]) -> None:
        for item in emitted:
            self._lines.append(orjson.dumps(item.resource) + b"\n")
            if len(self._lines) >= self._limit:
                self.close(resource_type)

    def close(self, resource_type: str) -> None:
        if not self._lines:
            return
        blobs = self._scope.ports.uploads.blobs
        stored = blobs.put([b"".join(self._lines)], content_type=NDJSON)
        self._scope.uow.after_rollback(lambda _session: blobs.delete(stored.blob_id))
        self._seq += 1
        self._scope.session.add(
            FhirExportFile(
                export_id=self._export_id,
                seq=self._seq,
                resource_type=resource_type,
                count=len(self._lines),
                blob_id=stored.blob_id,
            )
        )
        self.total += len(self._lines)
        self._lines = []


def expire(scope: Scope) -> int:
    """Deletes the exports past their expiry with their files' blobs; how many."""
    gone = repository.expired(scope.session, scope.clock.now(), EXPIRED_PER_RUN)
    for export_id in gone:
        _discard(scope, export_id)
    return len(gone)
