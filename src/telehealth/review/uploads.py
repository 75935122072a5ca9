"""Resumable media uploads (tus 1.0): creation, appends, completion, termination, expiry.

The bytes go straight into an encrypted resumable blob writer, so the staging area holds
ciphertext only and every acknowledged offset is durable. The database row names the case,
the owner and the declared length; the offset itself comes from the staged data, so it is
right even after a crash between an append and a commit.

An upload becomes case media only when its last byte arrives and its content passes the checks
(type from the bytes, image re-encoding, lab-result validation). A failing upload is discarded
whole: nothing partial is ever stored as media.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telehealth.audit.model import Action, Outcome
from telehealth.clock import ensure_utc
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.review import media as media_checks
from telehealth.review import model, repository
from telehealth.review.model import MediaKind
from telehealth.review.service import originated_case, review_storage
from telehealth.review.storage import Lease, ReviewStorage
from telehealth.review.tables import ReviewMedia, ReviewUpload
from telehealth.scope import Scope
from telehealth.storage import StoredBlob, new_upload_id

UPLOAD = "review_upload"
# Appends are made in pieces of this size while a PATCH body streams in, and the PATCH is
# fsynced once before it is acknowledged. One stream chunk per append: a piece this small is
# still in the CPU cache when it is hashed, sealed and written, which measured cheaper than
# 4 MiB pieces despite more appends.
APPEND_SIZE = 1024 * 1024
# Received pieces waiting for their append, at most: receiving runs ahead of appending by this
# much, so a short stall on either side does not stop the other. Memory stays bounded by a few
# pieces whatever the body size. Sealing and writing run on one worker thread and hashing on
# another, side by side: SHA-256 costs several times what AES-GCM does.
APPENDS_IN_FLIGHT = 4
# Received parts at least this large are sealed where they lie, one chunk record per part (the
# stream format allows short chunks); smaller ones, a slow connection's reads, are first joined
# into one piece so that records stay large.
SEALED_IN_PLACE = 64 * 1024
# A PATCH carrying Upload-Checksum is verified before anything is appended, so its body is
# held in memory; this caps it.
MAX_CHECKSUM_PATCH = 64 * 1024 * 1024
CHECKSUM_ALGORITHMS: dict[str, Callable[..., Any]] = {
    "sha256": hashlib.sha256,
    "sha1": hashlib.sha1,
}
METADATA_KEYS = frozenset({"case_id", "filename", "filetype", "name", "type"})


@dataclass(frozen=True)
class UploadState:
    upload_id: str
    length: int
    offset: int
    expires_at: datetime
    status: str
    media_id: uuid.UUID | None
    metadata: dict[str, str]


class ContentRefused(DomainError):
    """The content itself is unacceptable: the whole upload is discarded."""

    @classmethod
    def from_error(cls, exc: DomainError) -> ContentRefused:
        return cls(exc.code, exc.message)


def _gone() -> DomainError:
    return DomainError(ErrorCode.GONE, "the upload has expired or was removed")


# --- parsing tus headers ---------------------------------------------------------------------


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs."""
    values: dict[str, str] = {}
    for pair in (header or "").split(","):
        if not pair.strip():
            continue
        key, _, encoded = pair.strip().partition(" ")
        if key in values or not key.isascii() or not key:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "malformed Upload-Metadata", field="Upload-Metadata"
            )
        try:
            values[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise DomainError(
                ErrorCode.INVALID_INPUT, "malformed Upload-Metadata", field="Upload-Metadata"
            ) from None
    return values


def encode_metadata(values: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode('ascii')}" for key, value in values.items()
    )


def parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    """``Upload-Checksum: <algorithm> <base64 digest>``; None when absent."""
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm.lower() not in CHECKSUM_ALGORITHMS:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "unsupported checksum algorithm", field="Upload-Checksum"
        )
    try:
        return algorithm.lower(), base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "malformed Upload-Checksum", field="Upload-Checksum"
        ) from None


# --- the loader: uploads belong to the user who created them ----------------------------------


def owned_upload(scope: Scope, upload_id: str) -> ReviewUpload:
    actor = scope.require_actor()
    upload = repository.upload_by_id(scope.session, upload_id) if len(upload_id) <= 32 else None
    if upload is None or upload.owner_id != actor.user_id or upload.status == "removed":
        scope.audit.record(
            Action.ACCESS_DENIED, UPLOAD, upload_id[:64], outcome=Outcome.DENIED, durable=True
        )
        raise not_found("upload")
    return upload


def _open_upload(scope: Scope, upload: ReviewUpload) -> None:
    if upload.status in ("failed", "expired") or ensure_utc(upload.expires_at) <= scope.clock.now():
        raise _gone()
    if upload.status == "complete":
        raise DomainError(ErrorCode.INVALID_STATE, "the upload is already complete")


def _metadata_of(upload: ReviewUpload) -> dict[str, str]:
    return {"case_id": str(upload.case_id), "filename": upload.filename}


# --- creation --------------------------------------------------------------------------------


def create_upload(
    scope: Scope, length_header: str | None, metadata_header: str | None, defer_length: bool
) -> ReviewUpload:
    """Validate everything the headers say before any body byte is read."""
    if defer_length:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "the upload length must be given up front",
            field="Upload-Length",
        )
    length = _parse_length(length_header)
    meta = parse_metadata(metadata_header)
    unknown = sorted(set(meta) - METADATA_KEYS)
    if unknown:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "unknown Upload-Metadata key",
            field=f"Upload-Metadata.{unknown[0]}",
        )
    try:
        case_id = uuid.UUID(meta.get("case_id", ""))
    except ValueError:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "Upload-Metadata must name the case",
            field="Upload-Metadata.case_id",
        ) from None
    storage = review_storage(scope)
    limits = storage.settings
    if length > limits.max_upload_bytes:
        raise DomainError(ErrorCode.PAYLOAD_TOO_LARGE, "the file is larger than allowed")
    declared = media_checks.declared_type(meta.get("filetype") or meta.get("type"))
    declared_kind = media_checks.KINDS[declared] if declared is not None else None
    if declared_kind is not None and length > limits.max_bytes_for(declared_kind):
        raise DomainError(ErrorCode.PAYLOAD_TOO_LARGE, "the file is larger than allowed")
    case = originated_case(scope, case_id)
    model.check_media_open(model.CaseStatus(case.status))
    if repository.media_count(scope.session, case.id) >= limits.max_media_per_case:
        raise DomainError(ErrorCode.CONFLICT, "the case already has as many files as allowed")
    actor = scope.require_actor()
    now = scope.clock.now()
    upload_id = new_upload_id()
    writer = storage.start(upload_id, "application/octet-stream")
    _discard_on_rollback(scope, storage, upload_id)
    upload = ReviewUpload(
        id=upload_id,
        case_id=case.id,
        patient_id=case.patient_id,
        owner_id=actor.user_id,
        length=length,
        filename=model.safe_filename(meta.get("filename") or meta.get("name"), "upload"),
        declared_kind=declared_kind.value if declared_kind is not None else None,
        declared_type=declared,
        status="open",
        blob_id=writer.blob_id,
        created_at=now,
        expires_at=now + limits.upload_expiry,
    )
    scope.session.add(upload)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE, UPLOAD, upload.id, patient_id=case.patient_id, detail={"length": length}
    )
    return upload


def _parse_length(header: str | None) -> int:
    if header is None or not header.strip().isdigit():
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Upload-Length must be a whole number", field="Upload-Length"
        )
    length = int(header.strip())
    if length < 1:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "an empty file is not accepted", field="Upload-Length"
        )
    return length


def _discard_on_rollback(scope: Scope, storage: ReviewStorage, upload_id: str) -> None:
    def discard(_session: object) -> None:
        storage.blobs.store.staging.discard(upload_id)
        storage.forget(upload_id)

    scope.uow.after_rollback(discard)


# --- status ----------------------------------------------------------------------------------


def upload_state(scope: Scope, upload_id: str) -> UploadState:
    upload = owned_upload(scope, upload_id)
    if upload.status == "complete":
        offset = upload.length
    else:
        _open_upload(scope, upload)
        offset = review_storage(scope).offset(upload.id)
    return UploadState(
        upload.id,
        upload.length,
        offset,
        ensure_utc(upload.expires_at),
        upload.status,
        upload.media_id,
        _metadata_of(upload),
    )


# --- appending -------------------------------------------------------------------------------


@dataclass
class Patch:
    """One PATCH in progress: the held writer and what the headers promised.

    Body bytes are kept as received until :func:`take` hands them to an append, which copies
    them into ``joined``, a buffer reused by every append of the PATCH.
    """

    upload: ReviewUpload
    storage: ReviewStorage
    lease: Lease
    checksum: tuple[str, bytes] | None
    start_offset: int
    start_staged: int  # the staged length before this PATCH, to rewind to
    received: deque[memoryview] = field(default_factory=deque)
    received_size: int = 0
    joined: bytearray = field(default_factory=bytearray)
    accepted: int = 0  # body bytes taken in by this PATCH, appended or not
    checked_type: bool = False

    @property
    def offset(self) -> int:
        """The offset: what has been appended (fsynced once the PATCH is acknowledged)."""
        return self.lease.writer.offset


def begin_patch(
    scope: Scope,
    upload_id: str,
    offset_header: str | None,
    content_length: str | None,
    checksum_header: str | None,
) -> Patch:
    upload = owned_upload(scope, upload_id)
    _open_upload(scope, upload)
    checksum = parse_checksum(checksum_header)
    if offset_header is None or not offset_header.strip().isdigit():
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Upload-Offset must be a whole number", field="Upload-Offset"
        )
    storage = review_storage(scope)
    lease = storage.acquire(upload.id)
    try:
        offset = lease.writer.offset
        if int(offset_header) != offset:
            raise DomainError(
                ErrorCode.CONFLICT, "Upload-Offset does not match the upload", offset=offset
            )
        if content_length is not None and content_length.isdigit():
            _check_body_size(upload, offset, int(content_length), checksum is not None)
    except BaseException:
        lease.release()
        raise
    # Streaming a body can take minutes: end the read transaction now so no database lock or
    # connection is held while bytes arrive. The request's unit of work continues afterwards.
    scope.session.commit()
    return Patch(
        upload, storage, lease, checksum, offset, lease.writer.staged, checked_type=offset > 0
    )


def _check_body_size(upload: ReviewUpload, offset: int, size: int, checksummed: bool) -> None:
    if offset + size > upload.length:
        raise DomainError(
            ErrorCode.PAYLOAD_TOO_LARGE, "the body goes past the declared upload length"
        )
    if checksummed and size > MAX_CHECKSUM_PATCH:
        raise DomainError(
            ErrorCode.PAYLOAD_TOO_LARGE, "a checksummed PATCH may carry at most 64 MiB"
        )


def feed(patch: Patch, piece: bytes) -> None:
    """Take body bytes in; :func:`append` stores them (off the event loop)."""
    patch.accepted += len(piece)
    _check_body_size(patch.upload, patch.start_offset, patch.accepted, patch.checksum is not None)
    if piece:
        patch.received.append(memoryview(piece))
        patch.received_size += len(piece)


def ready(patch: Patch) -> bool:
    """A full piece is received and may be appended while more of the body arrives."""
    return patch.checksum is None and patch.received_size >= APPEND_SIZE


def take(patch: Patch) -> list[memoryview]:
    """Detach up to one piece of received bytes for :func:`append`, in order; the first
    bytes of the upload decide its file type."""
    if not patch.checked_type and patch.received:
        _check_type(patch, _head(patch.received, media_checks.SNIFF_BYTES))
    wanted = min(APPEND_SIZE, patch.received_size)
    patch.received_size -= wanted
    taken = []
    while wanted:
        part = patch.received.popleft()
        if len(part) > wanted:
            patch.received.appendleft(part[wanted:])
            part = part[:wanted]
        taken.append(part)
        wanted -= len(part)
    return taken


def _head(parts: Iterable[memoryview], size: int) -> bytes:
    head = bytearray()
    for part in parts:
        head += part[: size - len(head)]
        if len(head) == size:
            break
    return bytes(head)


def append(patch: Patch, parts: list[memoryview]) -> None:
    """Seal, stage and hash ``parts``; :func:`make_durable` fsyncs before the PATCH is
    acknowledged."""
    stage(patch, parts)
    digest(patch, parts)


def stage(patch: Patch, parts: list[memoryview]) -> None:
    """The sealing and writing half of :func:`append`; :func:`digest` is the other, and may
    run at the same time on another thread (the two share no state)."""
    if not parts:
        return
    if min(len(part) for part in parts) >= SEALED_IN_PLACE:
        patch.lease.writer.stage_parts(parts, sync=False)
        return
    size = 0
    for part in parts:
        # In place once the buffer has grown to a piece: no allocation per append.
        patch.joined[size : size + len(part)] = part
        size += len(part)
    with memoryview(patch.joined)[:size] as data:
        patch.lease.writer.stage(data, sync=False)


def digest(patch: Patch, parts: list[memoryview]) -> None:
    """The hashing half of :func:`append`: the content's SHA-256, fed in body order."""
    for part in parts:
        patch.lease.writer.digest(part)


def append_rest(patch: Patch) -> None:
    """Append whatever has been received and not yet appended."""
    while patch.received_size:
        append(patch, take(patch))


def make_durable(patch: Patch) -> None:
    """One fsync for the whole PATCH: the offset a client is told never exceeds durable bytes."""
    if not patch.lease.writer.finalized:
        patch.lease.writer.sync()


def _check_type(patch: Patch, head: bytes) -> None:
    needed = min(media_checks.SNIFF_BYTES, patch.upload.length)
    if len(head) < needed:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"the first PATCH must carry at least {needed} bytes"
        )
    try:
        sniffed = media_checks.sniff(head)
        upload = patch.upload
        media_checks.check_declared(sniffed, upload.declared_type, upload.declared_kind)
        if patch.upload.length > patch.storage.settings.max_bytes_for(sniffed.kind):
            raise DomainError(ErrorCode.PAYLOAD_TOO_LARGE, "the file is larger than allowed")
    except DomainError as exc:
        raise ContentRefused.from_error(exc) from None
    patch.checked_type = True


def finish_body(patch: Patch) -> None:
    """The whole body has arrived: verify its checksum, then append what remains."""
    if patch.checksum is not None:
        algorithm, expected = patch.checksum
        digest = CHECKSUM_ALGORITHMS[algorithm]()
        for part in patch.received:
            digest.update(part)
        if digest.digest() != expected:
            patch.received.clear()
            patch.received_size = 0
            raise DomainError(
                ErrorCode.CHECKSUM_MISMATCH,
                "the body does not match Upload-Checksum",
                offset=patch.offset,
            )
    append_rest(patch)
    make_durable(patch)


def finish(scope: Scope, patch: Patch) -> ReviewMedia | None:
    """:func:`finish_body`, then :func:`complete_if_done`: the end of a PATCH in one call.

    When the blob store is unavailable as the last PATCH completes the upload, that PATCH's
    bytes are dropped again: the client is told 503 and finds the offset it had, so it sends
    the same PATCH once the store is back. Were the bytes kept, the offset would equal the
    length and a tus client would see nothing left to send.
    """
    finish_body(patch)
    try:
        return complete_if_done(scope, patch)
    except DomainError as exc:
        if exc.code is ErrorCode.UNAVAILABLE and not patch.lease.writer.finalized:
            patch.lease.writer.rewind(patch.start_staged)
        raise


def end_patch(patch: Patch, *, healthy: bool) -> None:
    patch.lease.release(healthy=healthy)


def fail_upload(scope: Scope, patch: Patch, error: DomainError) -> None:
    """Content refused: drop everything staged so nothing of it remains."""
    upload = patch.upload
    if not patch.lease.writer.finalized:
        patch.lease.writer.abort()
    patch.storage.forget(upload.id)
    upload.status = "failed"
    scope.audit.record(
        Action.DELETE,
        UPLOAD,
        upload.id,
        patient_id=upload.patient_id,
        outcome=Outcome.FAILURE,
        detail={"error": error.code.value},
    )


# --- completion ------------------------------------------------------------------------------


def complete_if_done(scope: Scope, patch: Patch) -> ReviewMedia | None:
    if patch.offset < patch.upload.length:
        return None
    upload = patch.upload
    storage = patch.storage
    raw = patch.lease.writer.finalize()
    storage.forget(upload.id)
    try:
        stored, kind = _accept(storage, raw)
    except DomainError as exc:
        storage.blobs.delete(raw.blob_id)
        raise ContentRefused.from_error(exc) from None
    except BaseException:
        storage.blobs.delete(raw.blob_id)
        raise
    scope.uow.after_rollback(lambda _session: storage.blobs.delete(stored.blob_id))
    now = scope.clock.now()
    item = ReviewMedia(
        case_id=upload.case_id,
        patient_id=upload.patient_id,
        kind=kind.value,
        content_type=stored.content_type,
        filename=upload.filename,
        size=stored.size,
        sha256=stored.sha256,
        upload_sha256=raw.sha256,
        blob_id=stored.blob_id,
        uploaded_by=upload.owner_id,
        created_at=now,
    )
    scope.session.add(item)
    scope.session.flush()
    upload.status = "complete"
    upload.media_id = item.id
    upload.completed_at = now
    scope.audit.record(
        Action.CREATE,
        "review_media",
        item.id,
        patient_id=upload.patient_id,
        detail={"kind": kind.value, "size": stored.size},
    )
    return item


def _accept(storage: ReviewStorage, raw: StoredBlob) -> tuple[StoredBlob, MediaKind]:
    """Check the finished content; images are replaced by their re-encoded form."""
    blobs = storage.blobs
    head = b""
    for piece in blobs.open(raw.blob_id):
        head = piece[: media_checks.SNIFF_BYTES]
        break
    sniffed = media_checks.sniff(head)
    limits = storage.settings
    if raw.size > limits.max_bytes_for(sniffed.kind):
        raise DomainError(ErrorCode.PAYLOAD_TOO_LARGE, "the file is larger than allowed")
    if sniffed.kind is MediaKind.IMAGE:
        original = b"".join(blobs.open(raw.blob_id))
        clean = media_checks.reencode_image(original, sniffed.content_type, limits.max_image_pixels)
        stored = blobs.put([clean], content_type=sniffed.content_type)
        blobs.delete(raw.blob_id)
        return stored, sniffed.kind
    if sniffed.kind is MediaKind.OBSERVATION:
        media_checks.check_observation(b"".join(blobs.open(raw.blob_id)))
    return StoredBlob(
        raw.blob_id, raw.size, raw.sha256, raw.kek_id, sniffed.content_type
    ), sniffed.kind


# --- termination and expiry ------------------------------------------------------------------


def terminate(scope: Scope, upload_id: str) -> None:
    upload = owned_upload(scope, upload_id)
    if upload.status == "complete":
        raise DomainError(ErrorCode.INVALID_STATE, "a finished upload is part of its case")
    storage = review_storage(scope)
    if upload.status == "open":
        lease = storage.acquire(upload.id)
        try:
            lease.writer.abort()
        finally:
            lease.release(healthy=False)
            storage.forget(upload.id)
    upload.status = "removed"
    scope.audit.record(Action.DELETE, UPLOAD, upload.id, patient_id=upload.patient_id)


def expire_uploads(scope: Scope, limit: int = 200) -> int:
    """Drop the staged bytes of uploads not finished in time."""
    storage = review_storage(scope)
    handled = 0
    for upload in repository.expired_uploads(scope.session, scope.clock.now(), limit):
        try:
            lease = storage.acquire(upload.id)
        except DomainError as exc:
            if exc.code is ErrorCode.CONFLICT:
                continue  # a PATCH is running right now; try again on the next round
            storage.blobs.store.staging.discard(upload.id)
        else:
            try:
                lease.writer.abort()
            finally:
                lease.release(healthy=False)
        storage.forget(upload.id)
        upload.status = "expired"
        scope.audit.record(
            Action.DELETE,
            UPLOAD,
            upload.id,
            patient_id=upload.patient_id,
            actor_role="system",
            detail={"reason": "expired"},
        )
        handled += 1
    scope.session.flush()
    return handled
