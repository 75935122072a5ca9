"""ResumableBlobWriter: durable offsets, crash and resume, atomic finalize."""

from __future__ import annotations

import hashlib
import os
import random
import struct
from concurrent.futures import ThreadPoolExecutor

import pytest

from telehealth.errors import DomainError, ErrorCode
from telehealth.storage import EncryptedBlobs, ResumableBlobWriter, crypto
from telehealth.storage.ports import BlobStore

from .support import SMALL_CHUNK

UPLOAD = "upload-0000000000000001"


def published(store: BlobStore) -> list[str]:
    return list(store.list_names())


def test_kill_and_resume_gives_the_same_blob(blobs: EncryptedBlobs) -> None:
    rng = random.Random(7)
    data = rng.randbytes(9 * SMALL_CHUNK + 333)
    cut = 4 * SMALL_CHUNK + 100
    writer = blobs.new_writer(UPLOAD, content_type="video/mp4")
    blob_id = writer.blob_id
    offset = 0
    while offset < cut:
        step = min(rng.randint(1, 3 * SMALL_CHUNK), cut - offset)
        assert writer.append(data[offset : offset + step]) == offset + step
        offset += step
    del writer  # the process dies; nothing held in memory survives

    resumed = ResumableBlobWriter.resume(blobs, UPLOAD)
    assert resumed.durable_offset == resumed.offset == cut
    assert resumed.blob_id == blob_id
    resumed.append(data[cut:])
    stored = resumed.finalize()

    assert stored.blob_id == blob_id
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.content_type == "video/mp4"
    assert b"".join(blobs.open(blob_id)) == data
    assert blobs.store.staging.upload_ids() == []


def test_partial_blob_is_never_visible_before_finalize(blobs: EncryptedBlobs) -> None:
    writer = blobs.new_writer(UPLOAD)
    writer.append(os.urandom(3 * SMALL_CHUNK))
    with pytest.raises(DomainError) as caught:
        blobs.open(writer.blob_id)
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert not blobs.exists(writer.blob_id)
    assert published(blobs.store) == []
    writer.finalize()
    assert blobs.exists(writer.blob_id)


def test_empty_upload(blobs: EncryptedBlobs) -> None:
    stored = blobs.new_writer(UPLOAD).finalize()
    assert stored.size == 0
    assert stored.sha256 == hashlib.sha256(b"").hexdigest()
    assert b"".join(blobs.open(stored.blob_id)) == b""


def test_pieces_larger_than_a_chunk_are_split(blobs: EncryptedBlobs) -> None:
    writer = blobs.new_writer(UPLOAD)
    data = os.urandom(5 * SMALL_CHUNK + 1)
    writer.append(data)
    stored = writer.finalize()
    sealed = b"".join(blobs.store.read(stored.blob_id))
    # header + 6 data chunks + the empty final chunk
    expected = crypto.HEADER_SIZE + len(data) + 7 * (crypto.LENGTH_SIZE + crypto.TAG_SIZE)
    assert len(sealed) == expected


def test_append_reads_a_reused_buffer_only_during_the_call(blobs: EncryptedBlobs) -> None:
    writer = blobs.new_writer(UPLOAD)
    buffer = bytearray(os.urandom(2 * SMALL_CHUNK + 5))
    first = bytes(buffer)
    writer.append(memoryview(buffer), sync=False)
    buffer[:] = os.urandom(len(buffer))  # the caller refills its buffer for the next append
    second = bytes(buffer)
    writer.append(buffer, sync=False)
    assert writer.durable_offset == 0
    assert writer.sync() == writer.offset == 2 * len(buffer)
    stored = writer.finalize()
    assert b"".join(blobs.open(stored.blob_id)) == first + second
    assert stored.sha256 == hashlib.sha256(first + second).hexdigest()


def test_staging_and_hashing_may_run_on_two_threads_at_once(blobs: EncryptedBlobs) -> None:
    pieces = [os.urandom(random.Random(n).randint(1, 3 * SMALL_CHUNK)) for n in range(40)]
    writer = blobs.new_writer(UPLOAD)
    with ThreadPoolExecutor(max_workers=2) as pool:
        staged = pool.submit(lambda: [writer.stage(piece, sync=False) for piece in pieces])
        hashed = pool.submit(lambda: [writer.digest(piece) for piece in pieces])
        staged.result()
        hashed.result()
    writer.sync()
    stored = writer.finalize()
    data = b"".join(pieces)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert b"".join(blobs.open(stored.blob_id)) == data


def test_finalize_refuses_until_every_staged_byte_is_hashed(blobs: EncryptedBlobs) -> None:
    writer = blobs.new_writer(UPLOAD)
    piece = os.urandom(SMALL_CHUNK + 7)
    writer.stage(piece)
    with pytest.raises(DomainError) as caught:
        writer.finalize()
    assert caught.value.code is ErrorCode.INVALID_STATE
    assert published(blobs.store) == []
    writer.digest(piece)
    assert writer.finalize().sha256 == hashlib.sha256(piece).hexdigest()


@pytest.mark.parametrize(
    "torn",
    [
        b"\x00\x00",  # half a length prefix
        struct.pack(">I", SMALL_CHUNK + 16) + b"\x00" * 100,  # body cut short
        struct.pack(">I", 40) + b"\x00" * 40,  # whole record of zeros (unwritten blocks)
        struct.pack(">I", 3),  # impossible length
    ],
)
def test_torn_tail_after_a_crash_is_cut_back_to_the_durable_offset(
    blobs: EncryptedBlobs, torn: bytes
) -> None:
    data = os.urandom(2 * SMALL_CHUNK + 5)
    writer = blobs.new_writer(UPLOAD)
    writer.append(data)
    blobs.store.staging.append(UPLOAD, torn)  # what a crash mid-append can leave
    resumed = blobs.resume_writer(UPLOAD)
    assert resumed.durable_offset == len(data)
    resumed.append(b"tail")
    stored = resumed.finalize()
    assert b"".join(blobs.open(stored.blob_id)) == data + b"tail"


def test_crash_after_final_chunk_staged_but_before_publish(blobs: EncryptedBlobs) -> None:
    writer = blobs.new_writer(UPLOAD)
    writer.append(b"almost done")
    # The trailer reached staging, then the process died before publishing.
    trailer = writer._sealer.seal(b"", 1, final=True)
    blobs.store.staging.append(UPLOAD, trailer)
    resumed = blobs.resume_writer(UPLOAD)
    assert resumed.offset == len(b"almost done")
    stored = resumed.finalize()
    assert b"".join(blobs.open(stored.blob_id)) == b"almost done"


def test_crash_after_publish_before_cleanup_recovers_the_result(
    blobs: EncryptedBlobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(3 * SMALL_CHUNK)
    writer = blobs.new_writer(UPLOAD)
    writer.append(data)
    staging = blobs.store.staging

    def die(upload_id: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(staging, "discard", die)
    with pytest.raises(KeyboardInterrupt):
        writer.finalize()
    monkeypatch.undo()

    resumed = blobs.resume_writer(UPLOAD)
    assert resumed.finalized
    stored = resumed.finalize()
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    assert staging.upload_ids() == []


def test_finalize_is_idempotent_and_closes_the_writer(blobs: EncryptedBlobs) -> None:
    writer = blobs.new_writer(UPLOAD)
    writer.append(b"x")
    assert writer.finalize() == writer.finalize()
    for call in (lambda: writer.append(b"y"), writer.abort):
        with pytest.raises(DomainError) as caught:
            call()
        assert caught.value.code is ErrorCode.INVALID_STATE


def test_abort_removes_everything(blobs: EncryptedBlobs) -> None:
    writer = blobs.new_writer(UPLOAD)
    writer.append(b"discard me")
    writer.abort()
    with pytest.raises(DomainError) as caught:
        blobs.resume_writer(UPLOAD)
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert published(blobs.store) == []
    with pytest.raises(DomainError):
        writer.append(b"more")


def test_duplicate_and_unknown_uploads(blobs: EncryptedBlobs) -> None:
    blobs.new_writer(UPLOAD)
    with pytest.raises(DomainError) as duplicate:
        blobs.new_writer(UPLOAD)
    assert duplicate.value.code is ErrorCode.ALREADY_EXISTS
    with pytest.raises(DomainError) as unknown:
        blobs.resume_writer("upload-that-never-existed")
    assert unknown.value.code is ErrorCode.NOT_FOUND


def test_two_writers_on_one_upload_are_detected(blobs: EncryptedBlobs) -> None:
    first = blobs.new_writer(UPLOAD)
    second = blobs.resume_writer(UPLOAD)
    first.append(b"one")
    with pytest.raises(DomainError) as caught:
        second.append(b"two")
    assert caught.value.code is ErrorCode.CONFLICT
    with pytest.raises(DomainError):
        second.append(b"again")  # a writer that saw a conflict must be resumed afresh


def test_offsets_never_go_backwards_across_many_crashes(blobs: EncryptedBlobs) -> None:
    rng = random.Random(3)
    data = rng.randbytes(20 * SMALL_CHUNK)
    writer = blobs.new_writer(UPLOAD)
    last = 0
    while writer.offset < len(data):
        step = rng.randint(1, 2 * SMALL_CHUNK)
        writer.append(data[writer.offset : writer.offset + step])
        if rng.random() < 0.4:
            writer = blobs.resume_writer(UPLOAD)
        assert writer.offset >= last
        last = writer.offset
    assert writer.finalize().sha256 == hashlib.sha256(data).hexdigest()
