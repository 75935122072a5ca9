"""Encrypted blobs on top of a ``BlobStore``: put/open/delete, resumable writes, key rotation.

Each blob ``<id>`` has a key record ``<id>.key`` beside it holding its data key wrapped under a
KEK. The key record is written first and the blob published last, so a blob is readable only
once complete; deleting the key record first crypto-shreds the blob even if removing the
ciphertext then fails.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO, cast

from telehealth.errors import DomainError, ErrorCode
from telehealth.storage import crypto
from telehealth.storage.keyring import Keyring
from telehealth.storage.ports import (
    KEY_SUFFIX,
    BlobStore,
    StagingArea,
    check_blob_id,
    check_upload_id,
    key_object_name,
    new_blob_id,
    read_all,
)

DEFAULT_CONTENT_TYPE = "application/octet-stream"
_CONTENT_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
    r"(?:\s*;\s*[A-Za-z0-9!#$&^_.+-]+=[A-Za-z0-9!#$&^_.+-]+){0,4}"
)
_STAGING_META_VERSION = 1


@dataclass(frozen=True)
class StoredBlob:
    blob_id: str
    size: int
    sha256: str  # hex digest of the plaintext
    kek_id: str
    content_type: str


@dataclass(frozen=True)
class RotationReport:
    rewrapped: int = 0
    already_current: int = 0
    staged_rewrapped: int = 0
    # Ids only: which key records could not be re-wrapped (unknown KEK, damaged record).
    failed: tuple[str, ...] = field(default=())


def check_content_type(content_type: str) -> str:
    if not isinstance(content_type, str) or not _CONTENT_TYPE.fullmatch(content_type):
        raise DomainError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "malformed content type")
    return content_type


class EncryptedBlobs:
    """Envelope-encrypted blob service over any ``BlobStore``."""

    def __init__(
        self,
        store: BlobStore,
        keyring: Keyring,
        *,
        chunk_size: int = crypto.DEFAULT_CHUNK_SIZE,
    ) -> None:
        crypto.check_chunk_size(chunk_size)
        self.store = store
        self.keyring = keyring
        self.chunk_size = chunk_size

    def put(
        self,
        stream: Iterable[bytes] | BinaryIO,
        *,
        content_type: str,
        max_size: int | None = None,
    ) -> StoredBlob:
        """Encrypt and store ``stream``; SHA-256 and size are computed in the same pass.

        With ``max_size``, a stream that grows past it is refused (PAYLOAD_TOO_LARGE) and
        nothing is kept.
        """
        check_content_type(content_type)
        blob_id = new_blob_id()
        data_key = crypto.new_data_key()
        key_name = key_object_name(blob_id)
        record = self.keyring.wrap(data_key, blob_id)
        self.store.write(key_name, [record.to_bytes()])
        digest = hashlib.sha256()
        size = 0

        def measured() -> Iterator[tuple[bytearray | bytes, bool]]:
            nonlocal size
            for chunk, final in rechunk(_pieces(stream, self.chunk_size), self.chunk_size):
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise DomainError(ErrorCode.PAYLOAD_TOO_LARGE, "blob exceeds the size limit")
                digest.update(chunk)
                yield chunk, final

        try:
            ciphertext = crypto.encrypt_stream(
                data_key, blob_id, measured(), chunk_size=self.chunk_size
            )
            self.store.write(blob_id, ciphertext)
        except BaseException:
            with contextlib.suppress(DomainError):
                self.store.delete(key_name)
            raise
        return StoredBlob(blob_id, size, digest.hexdigest(), record.kek_id, content_type)

    def open(self, blob_id: str) -> Iterator[bytes]:
        """Stream the plaintext, each chunk authenticated before it is yielded.

        NOT_FOUND is raised here; tampering raises INTEGRITY_ERROR during iteration. The
        content is complete only if iteration ends without an error.
        """
        data_key = self._data_key(blob_id)
        return crypto.decrypt_stream(data_key, blob_id, self.store.read(blob_id))

    def verify(self, blob_id: str) -> tuple[int, str]:
        """Read the whole blob, authenticating it; return plaintext size and SHA-256 hex."""
        digest = hashlib.sha256()
        size = 0
        for plaintext in self.open(blob_id):
            digest.update(plaintext)
            size += len(plaintext)
        return size, digest.hexdigest()

    def exists(self, blob_id: str) -> bool:
        check_blob_id(blob_id)
        return self.store.exists(key_object_name(blob_id)) and self.store.exists(blob_id)

    def delete(self, blob_id: str) -> None:
        """Remove a blob; idempotent. The key record goes first (crypto-shredding)."""
        self.store.delete(key_object_name(blob_id))
        self.store.delete(blob_id)

    def new_writer(
        self, upload_id: str, *, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ResumableBlobWriter:
        return ResumableBlobWriter.open_new(self, upload_id, content_type=content_type)

    def resume_writer(self, upload_id: str) -> ResumableBlobWriter:
        return ResumableBlobWriter.resume(self, upload_id)

    def _data_key(self, blob_id: str) -> bytes:
        key_name = key_object_name(blob_id)
        record = crypto.KeyRecord.parse(read_all(self.store, key_name))
        return self.keyring.unwrap(record, blob_id)


def _pieces(stream: Iterable[bytes] | BinaryIO, read_size: int) -> Iterable[bytes]:
    # A binary file is also iterable, but by lines: read it in fixed-size blocks instead.
    if hasattr(stream, "read"):
        reader = cast(BinaryIO, stream)
        return iter(lambda: reader.read(read_size), b"")
    return stream


def rechunk(pieces: Iterable[bytes], chunk_size: int) -> Iterator[tuple[bytes | bytearray, bool]]:
    """Regroup pieces into full chunks, flagging the last one; empty input gives one b""."""
    pending: bytes | bytearray | None = None
    buffer = bytearray()
    for piece in pieces:
        if not buffer and len(piece) == chunk_size:
            # Common case (fixed-size reads): no copy.
            if pending is not None:
                yield pending, False
            pending = piece
            continue
        view = memoryview(piece)
        while view:
            take = chunk_size - len(buffer)
            buffer += view[:take]
            view = view[take:]
            if len(buffer) == chunk_size:
                if pending is not None:
                    yield pending, False
                pending, buffer = buffer, bytearray()
    if buffer:
        if pending is not None:
            yield pending, False
        yield buffer, True
    else:
        yield (pending if pending is not None else b""), True


# --- resumable writes --------------------------------------------------------------------


@dataclass(frozen=True)
class _StagingMeta:
    blob_id: str
    content_type: str
    key_record: crypto.KeyRecord
    header: bytes
    created_at: datetime

    def to_bytes(self) -> bytes:
        doc = {
            "v": _STAGING_META_VERSION,
            "blob_id": self.blob_id,
            "content_type": self.content_type,
            "key": self.key_record.to_bytes().decode("ascii"),
            "header": base64.b64encode(self.header).decode("ascii"),
            "created_at": self.created_at.isoformat(),
        }
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("ascii")

    @classmethod
    def parse(cls, raw: bytes) -> _StagingMeta:
        try:
            doc = json.loads(raw)
            if doc["v"] != _STAGING_META_VERSION:
                raise crypto.integrity_error("unsupported staging metadata")
            created_at = datetime.fromisoformat(doc["created_at"])
            return cls(
                blob_id=check_blob_id(doc["blob_id"]),
                content_type=check_content_type(doc["content_type"]),
                key_record=crypto.KeyRecord.parse(doc["key"].encode("ascii")),
                header=base64.b64decode(doc["header"], validate=True),
                created_at=created_at.astimezone(UTC),
            )
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            raise crypto.integrity_error("malformed staging metadata") from None


class ResumableBlobWriter:
    """Append-then-finalize writer that survives a process restart.

    Each ``append`` seals its bytes as one or more chunks (split at the stream chunk size),
    appends the ciphertext to the staging area and returns once it is fsynced: the returned
    ``durable_offset`` counts plaintext bytes that will survive a crash. ``resume`` rebuilds the
    writer from staged ciphertext, dropping a torn tail. ``finalize`` adds the final chunk and
    publishes the blob atomically. Only one writer per upload id may be active at a time.
    """

    def __init__(
        self,
        blobs: EncryptedBlobs,
        upload_id: str,
        meta: _StagingMeta,
        data_key: bytes,
    ) -> None:
        self._blobs = blobs
        self.upload_id = upload_id
        self.blob_id = meta.blob_id
        self.content_type = meta.content_type
        self.created_at = meta.created_at
        self._header = crypto.StreamHeader.parse(meta.header)
        self._sealer = crypto.ChunkSealer(data_key, self._header, meta.blob_id)
        self._kek_id = meta.key_record.kek_id
        self._digest = hashlib.sha256()
        self._hashed = 0
        self._counter = 0
        self._offset = 0
        self._durable = 0
        self._staged = crypto.HEADER_SIZE
        self._scratch: bytearray | None = None
        self._result: StoredBlob | None = None
        self._closed = False
        self._broken = False

    # -- construction

    @classmethod
    def open_new(
        cls, blobs: EncryptedBlobs, upload_id: str, *, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ResumableBlobWriter:
        check_upload_id(upload_id)
        blob_id = new_blob_id()
        data_key = crypto.new_data_key()
        header = crypto.StreamHeader.new(blobs.chunk_size).to_bytes()
        meta = _StagingMeta(
            blob_id=blob_id,
            content_type=check_content_type(content_type),
            key_record=blobs.keyring.wrap(data_key, blob_id),
            header=header,
            created_at=datetime.now(UTC),
        )
        blobs.store.staging.create(upload_id, meta.to_bytes(), header)
        return cls(blobs, upload_id, meta, data_key)

    @classmethod
    def resume(cls, blobs: EncryptedBlobs, upload_id: str) -> ResumableBlobWriter:
        staging = blobs.store.staging
        meta = _StagingMeta.parse(staging.read_meta(check_upload_id(upload_id)))
        data_key = blobs.keyring.unwrap(meta.key_record, meta.blob_id)
        writer = cls(blobs, upload_id, meta, data_key)
        try:
            pieces = staging.read_data(upload_id)
        except DomainError as exc:
            if exc.code is not ErrorCode.NOT_FOUND:
                raise
            writer._recover_published()
            return writer
        writer._replay(pieces)
        return writer

    def _replay(self, pieces: Iterable[bytes]) -> None:
        """Rebuild counter, offset and digest from staged chunks; cut a torn tail."""
        reader = crypto.ByteReader(pieces)
        if reader.read_exact(crypto.HEADER_SIZE) != self._header.to_bytes():
            raise crypto.integrity_error("staged header does not match")
        while True:
            plaintext, record_size = self._next_staged(reader)
            if plaintext is None:
                break
            self.digest(plaintext)
            self._offset += len(plaintext)
            self._counter += 1
            self._staged += record_size
        # Whatever follows the last authentic chunk was never acknowledged: an append torn by
        # a crash, or a final chunk whose publish did not happen.
        total = reader.consumed + reader.drain()
        if total != self._staged:
            self._blobs.store.staging.truncate(self.upload_id, self._staged)
        # The previous writer may have died between an unsynced append and its sync.
        self._blobs.store.staging.sync(self.upload_id)
        self._durable = self._offset

    def _next_staged(self, reader: crypto.ByteReader) -> tuple[bytes | None, int]:
        raw_length = reader.read_exact(crypto.LENGTH_SIZE)
        if raw_length is None:
            return None, 0
        length = int.from_bytes(raw_length, "big")
        if not crypto.TAG_SIZE <= length <= self._header.chunk_size + crypto.TAG_SIZE:
            return None, 0
        body = reader.read_exact(length)
        if body is None:
            return None, 0
        try:
            plaintext = self._sealer.open(body, self._counter, final=False)
        except DomainError:
            return None, 0
        return plaintext, crypto.LENGTH_SIZE + length

    def _recover_published(self) -> None:
        """A crash hit finalize after publishing: rebuild the result from the stored blob."""
        if not self._blobs.exists(self.blob_id):
            raise crypto.integrity_error("staged upload lost its data")
        for plaintext in self._blobs.open(self.blob_id):
            self.digest(plaintext)
            self._offset += len(plaintext)
        record = crypto.KeyRecord.parse(read_all(self._blobs.store, key_object_name(self.blob_id)))
        self._kek_id = record.kek_id
        self._durable = self._offset
        self._result = self._stored_blob()
        self._blobs.store.staging.discard(self.upload_id)

    # -- state

    @property
    def durable_offset(self) -> int:
        """Plaintext bytes fsynced: what survives a power loss."""
        return self._durable

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def finalized(self) -> bool:
        return self._result is not None

    @property
    def staged(self) -> int:
        """The length of the staged data: a point :meth:`rewind` can return to."""
        return self._staged

    def _check_open(self) -> None:
        if self._result is not None or self._closed:
            raise DomainError(ErrorCode.INVALID_STATE, "upload is already finished")
        if self._broken:
            raise DomainError(ErrorCode.INVALID_STATE, "upload must be resumed after a failure")

    # -- operations

    def append(self, data: bytes | bytearray | memoryview, *, sync: bool = True) -> int:
        """Seal, stage and hash ``data``; return the new offset.

        With ``sync`` (the default) the offset is durable on return. A caller streaming one
        request in several appends may pass ``sync=False`` and call :meth:`sync` once before
        acknowledging: one fsync per request instead of one per piece. ``data`` is only read
        during the call, so a caller may reuse its buffer afterwards.
        """
        offset = self.stage(data, sync=sync)
        self.digest(data)
        return offset

    def stage(self, data: bytes | bytearray | memoryview, *, sync: bool = True) -> int:
        """:meth:`append` without hashing: the caller passes the same bytes, in the same order,
        to :meth:`digest`, possibly on another thread at the same time. The two share no
        state; :meth:`finalize` refuses until every staged byte has been hashed."""
        return self.stage_parts((data,), sync=sync)

    def stage_parts(
        self, parts: Sequence[bytes | bytearray | memoryview], *, sync: bool = True
    ) -> int:
        """:meth:`stage` the concatenation of ``parts``, sealing each where it lies: chunks end
        at part boundaries (and every ``chunk_size`` bytes), so no part is copied first."""
        self._check_open()
        views = [memoryview(part) for part in parts if len(part)]
        if not views:
            return self._offset
        records, count, size = self._seal_parts(views)
        self._broken = True  # until the staged length proves the append landed whole
        new_length = self._blobs.store.staging.append(self.upload_id, records, sync=sync)
        if new_length != self._staged + len(records):
            raise DomainError(ErrorCode.CONFLICT, "upload was modified by another writer")
        self._broken = False
        self._staged = new_length
        self._counter += count
        self._offset += size
        if sync:
            self._mark_durable()
        return self._offset

    def digest(self, data: bytes | bytearray | memoryview) -> None:
        """Add staged (or about to be staged) bytes to the content's SHA-256, in order."""
        self._digest.update(data)
        self._hashed += len(data)

    def sync(self) -> int:
        """Make every append durable; returns the durable offset."""
        self._check_open()
        if self._durable != self._offset:
            self._blobs.store.staging.sync(self.upload_id)
            self._mark_durable()
        return self._durable

    def _mark_durable(self) -> None:
        self._durable = self._offset
        # The sealing buffer serves the appends of one request; an idle open upload holds none.
        self._scratch = None

    def _seal_parts(self, parts: list[memoryview]) -> tuple[memoryview, int, int]:
        """Seal ``parts`` as chunk records into the reused scratch buffer; return the records,
        how many there are and how many plaintext bytes they hold."""
        chunk = self._header.chunk_size
        size = sum(len(part) for part in parts)
        count = sum(-(-len(part) // chunk) for part in parts)
        out = self._scratch_of(size + count * crypto.RECORD_OVERHEAD)
        used = 0
        counter = self._counter
        for part in parts:
            for start in range(0, len(part), chunk):
                used += self._sealer.seal_into(
                    part[start : start + chunk], counter, False, out[used:]
                )
                counter += 1
        return out[:used], count, size

    def _scratch_of(self, size: int) -> memoryview:
        # Reusing one buffer matters: a fresh multi-megabyte allocation per append costs more
        # (page faults) than sealing the bytes.
        if self._scratch is None or len(self._scratch) < size:
            self._scratch = bytearray(size)
        return memoryview(self._scratch)

    def finalize(self) -> StoredBlob:
        """Publish the blob atomically; calling it again returns the same result."""
        if self._result is not None:
            return self._result
        self._check_open()
        if self._hashed != self._offset:
            raise DomainError(ErrorCode.INVALID_STATE, "staged bytes are not all hashed yet")
        staging = self._blobs.store.staging
        # Re-read the key record: key rotation may have re-wrapped it since this writer began.
        meta = _StagingMeta.parse(staging.read_meta(self.upload_id))
        self._kek_id = meta.key_record.kek_id
        self._blobs.store.write(key_object_name(self.blob_id), [meta.key_record.to_bytes()])
        trailer = self._sealer.seal(b"", self._counter, final=True)
        staging.promote(self.upload_id, self.blob_id, trailer)
        staging.discard(self.upload_id)
        self._result = self._stored_blob()
        return self._result

    def rewind(self, staged: int) -> None:
        """Drop what was staged after ``staged`` (a value :attr:`staged` had), as if those
        appends never happened; the writer must then be resumed, which recomputes the offset
        and the digest from what is left."""
        if self._result is not None:
            raise DomainError(ErrorCode.INVALID_STATE, "upload is already finalized")
        self._broken = True
        self._blobs.store.staging.truncate(self.upload_id, staged)

    def abort(self) -> None:
        """Drop the staged upload; it can no longer be resumed."""
        if self._result is not None:
            raise DomainError(ErrorCode.INVALID_STATE, "upload is already finalized")
        self._blobs.store.staging.discard(self.upload_id)
        self._closed = True

    def _stored_blob(self) -> StoredBlob:
        return StoredBlob(
            self.blob_id, self._offset, self._digest.hexdigest(), self._kek_id, self.content_type
        )


# --- key rotation ------------------------------------------------------------------------


def rotate_keys(store: BlobStore, keyring: Keyring) -> RotationReport:
    """Re-wrap every data key not under the current KEK; blob ciphertext is never touched.

    Each key record is replaced by an atomic write, so a crash leaves every record wrapped
    under either the old or the new KEK, and running rotation again finishes the job.
    Staged uploads are re-wrapped too, so an old KEK can be retired while uploads are open.
    """
    rewrapped = already_current = 0
    failed: list[str] = []
    # Listed up front: rewriting records while a directory listing is open could repeat some.
    for name in list(store.list_names(KEY_SUFFIX)):
        blob_id = name[: -len(KEY_SUFFIX)]
        try:
            changed = _rewrap_object(store, keyring, blob_id)
        except DomainError:
            failed.append(blob_id)
            continue
        if changed:
            rewrapped += 1
        else:
            already_current += 1
    staged = _rotate_staging(store, keyring, failed)
    return RotationReport(rewrapped, already_current, staged, tuple(failed))


def _rewrap_object(store: BlobStore, keyring: Keyring, blob_id: str) -> bool:
    key_name = key_object_name(blob_id)
    record = crypto.KeyRecord.parse(read_all(store, key_name))
    if record.kek_id == keyring.current.kek_id:
        return False
    new_record = keyring.wrap(keyring.unwrap(record, blob_id), blob_id)
    store.write(key_name, [new_record.to_bytes()])
    return True


def _rotate_staging(store: BlobStore, keyring: Keyring, failed: list[str]) -> int:
    staging: StagingArea = store.staging
    rewrapped = 0
    for upload_id in staging.upload_ids():
        try:
            meta = _StagingMeta.parse(staging.read_meta(upload_id))
            if meta.key_record.kek_id == keyring.current.kek_id:
                continue
            data_key = keyring.unwrap(meta.key_record, meta.blob_id)
            new_meta = _StagingMeta(
                meta.blob_id,
                meta.content_type,
                keyring.wrap(data_key, meta.blob_id),
                meta.header,
                meta.created_at,
            )
            staging.replace_meta(upload_id, new_meta.to_bytes())
            rewrapped += 1
        except DomainError as exc:
            if exc.code is not ErrorCode.NOT_FOUND:  # finished meanwhile: nothing to rotate
                failed.append(f"upload:{upload_id}")
    return rewrapped


__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "EncryptedBlobs",
    "ResumableBlobWriter",
    "RotationReport",
    "StoredBlob",
    "check_content_type",
    "rechunk",
    "rotate_keys",
]
