"""Memory stays flat while large blobs stream through."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from telehealth.storage import EncryptedBlobs, Keyring, LocalBlobStore
from telehealth.storage.s3 import MIN_PART_SIZE, S3BlobStore

MIB = 1024 * 1024


def source(total_mib: int) -> Iterator[bytes]:
    block = os.urandom(MIB)
    for i in range(total_mib):
        yield i.to_bytes(8, "big") + block[8:]


def test_64_mib_through_the_local_store_in_bounded_memory(tmp_path: Path) -> None:
    blobs = EncryptedBlobs(LocalBlobStore(tmp_path), Keyring.generate())
    tracemalloc.start()
    try:
        stored = blobs.put(source(64), content_type="application/octet-stream")
        digest = hashlib.sha256()
        size = 0
        for piece in blobs.open(stored.blob_id):
            digest.update(piece)
            size += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == stored.size == 64 * MIB
    assert digest.hexdigest() == stored.sha256
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_resumable_upload_of_48_mib_in_bounded_memory(tmp_path: Path) -> None:
    blobs = EncryptedBlobs(LocalBlobStore(tmp_path), Keyring.generate())
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        writer = blobs.new_writer("upload-large-000000001")
        for i, piece in enumerate(source(48)):
            digest.update(piece)
            writer.append(piece[: MIB // 2])
            writer.append(piece[MIB // 2 :])
            if i == 20:
                writer = blobs.resume_writer("upload-large-000000001")
        stored = writer.finalize()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size == 48 * MIB
    assert stored.sha256 == digest.hexdigest()
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_multipart_upload_to_s3(s3_store: S3BlobStore) -> None:
    blobs = EncryptedBlobs(s3_store, Keyring.generate())
    total = 3 * MIN_PART_SIZE // MIB + 2  # four parts
    stored = blobs.put(source(total), content_type="application/octet-stream")
    digest = hashlib.sha256()
    for piece in blobs.open(stored.blob_id):
        digest.update(piece)
    assert digest.hexdigest() == stored.sha256
