"""EncryptedBlobs over every store: roundtrip, tampering, plaintext at rest."""

from __future__ import annotations

import hashlib
import io
import os
import random
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from telehealth.errors import DomainError, ErrorCode
from telehealth.storage import EncryptedBlobs, Keyring, LocalBlobStore, MemoryBlobStore, crypto
from telehealth.storage.ports import BlobStore, new_blob_id
from telehealth.storage.s3 import S3BlobStore

from .support import SMALL_CHUNK, all_raw_bytes

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

SIZES = [0, 1, SMALL_CHUNK - 1, SMALL_CHUNK, SMALL_CHUNK + 1, 5 * SMALL_CHUNK + 17]


def read(blobs: EncryptedBlobs, blob_id: str) -> bytes:
    return b"".join(blobs.open(blob_id))


def read_until_error(blobs: EncryptedBlobs, blob_id: str) -> tuple[bytes, DomainError | None]:
    got = bytearray()
    try:
        for piece in blobs.open(blob_id):
            got += piece
    except DomainError as exc:
        return bytes(got), exc
    return bytes(got), None


def raw(store: BlobStore, name: str) -> bytes:
    return b"".join(store.read(name))


def split_records(sealed: bytes) -> tuple[bytes, list[bytes]]:
    header, rest = sealed[: crypto.HEADER_SIZE], sealed[crypto.HEADER_SIZE :]
    out = []
    while rest:
        (length,) = struct.unpack(">I", rest[:4])
        out.append(rest[: 4 + length])
        rest = rest[4 + length :]
    return header, out


@pytest.mark.parametrize("size", SIZES)
def test_roundtrip(blobs: EncryptedBlobs, size: int) -> None:
    data = os.urandom(size)
    stored = blobs.put([data[:3], data[3:]], content_type="application/pdf")
    assert stored.size == size
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.kek_id == "k1"
    assert stored.content_type == "application/pdf"
    assert read(blobs, stored.blob_id) == data
    assert blobs.verify(stored.blob_id) == (size, stored.sha256)


def test_put_accepts_a_binary_file(blobs: EncryptedBlobs) -> None:
    data = b"line one\nline two\n" * 500
    stored = blobs.put(io.BytesIO(data), content_type="text/plain; charset=utf-8")
    assert read(blobs, stored.blob_id) == data


def test_each_blob_gets_its_own_data_key(blobs: EncryptedBlobs) -> None:
    first = blobs.put([b"same"], content_type="text/plain")
    second = blobs.put([b"same"], content_type="text/plain")
    assert first.blob_id != second.blob_id
    assert raw(blobs.store, first.blob_id) != raw(blobs.store, second.blob_id)
    key_a = raw(blobs.store, first.blob_id + ".key")
    key_b = raw(blobs.store, second.blob_id + ".key")
    assert key_a != key_b


def test_bad_content_type_is_refused(blobs: EncryptedBlobs) -> None:
    with pytest.raises(DomainError) as caught:
        blobs.put([b"x"], content_type="text/html\r\nX-Evil: 1")
    assert caught.value.code is ErrorCode.UNSUPPORTED_MEDIA_TYPE


def test_delete(blobs: EncryptedBlobs) -> None:
    stored = blobs.put([b"bye"], content_type="text/plain")
    blobs.delete(stored.blob_id)
    assert not blobs.exists(stored.blob_id)
    assert list(blobs.store.list_names()) == []
    with pytest.raises(DomainError) as caught:
        blobs.open(stored.blob_id)
    assert caught.value.code is ErrorCode.NOT_FOUND
    blobs.delete(stored.blob_id)


def test_unknown_blob_is_not_found(blobs: EncryptedBlobs) -> None:
    with pytest.raises(DomainError) as caught:
        blobs.open(new_blob_id())
    assert caught.value.code is ErrorCode.NOT_FOUND


@pytest.mark.parametrize("blob_id", ["../../etc/passwd", "a" * 32 + ".key", "A" * 32, ""])
def test_malformed_blob_ids_are_rejected(blobs: EncryptedBlobs, blob_id: str) -> None:
    for call in (lambda: blobs.open(blob_id), lambda: blobs.delete(blob_id)):
        with pytest.raises(DomainError) as caught:
            call()
        assert caught.value.code is ErrorCode.INVALID_INPUT


def test_failed_producer_leaves_no_blob_and_no_key(blobs: EncryptedBlobs) -> None:
    def pieces() -> Iterator[bytes]:
        yield b"x" * 5000
        raise OSError("client went away")

    with pytest.raises(OSError, match="client went away"):
        blobs.put(pieces(), content_type="text/plain")
    assert list(blobs.store.list_names()) == []


def test_no_plaintext_canary_at_rest(blobs: EncryptedBlobs, request: pytest.FixtureRequest) -> None:
    canaries = [f"CANARY-{i}-PATIENT-Jane-Doe-DOB-1970-01-01".encode() for i in range(20)]
    for i, canary in enumerate(canaries):
        blobs.put([canary * (1 + 50 * i)], content_type="text/plain")
    writer = blobs.new_writer("upload-canary-0001")
    writer.append(canaries[0] * 40)  # staged, not finalized: must be ciphertext too
    s3_client: S3Client | None = None
    if isinstance(blobs.store, S3BlobStore):
        s3_client = request.getfixturevalue("s3_client")
    stored = all_raw_bytes(blobs.store, s3_client)
    assert len(stored) >= 2 * len(canaries)
    hits = sum(1 for blob in stored for canary in canaries if canary[:16] in blob)
    assert hits == 0


def test_random_byte_flip_in_any_blob_is_refused(blobs: EncryptedBlobs) -> None:
    rng = random.Random(1234)
    trials = 25 if isinstance(blobs.store, S3BlobStore) else 60
    refused = 0
    for _ in range(trials):
        data = rng.randbytes(rng.randint(0, 6 * SMALL_CHUNK))
        stored = blobs.put([data], content_type="application/octet-stream")
        sealed = bytearray(raw(blobs.store, stored.blob_id))
        position = rng.randrange(len(sealed))
        sealed[position] ^= 1 << rng.randrange(8)
        blobs.store.write(stored.blob_id, [bytes(sealed)])
        got, error = read_until_error(blobs, stored.blob_id)
        assert error is not None
        assert error.code is ErrorCode.INTEGRITY_ERROR
        damaged_chunk = max(0, (position - crypto.HEADER_SIZE) // (SMALL_CHUNK + 20))
        assert data.startswith(got)
        assert len(got) <= damaged_chunk * SMALL_CHUNK
        refused += 1
    assert refused == trials


def test_random_byte_flip_in_key_record_is_refused(blobs: EncryptedBlobs) -> None:
    rng = random.Random(99)
    for _ in range(20):
        stored = blobs.put([b"secret"], content_type="text/plain")
        name = stored.blob_id + ".key"
        record = bytearray(raw(blobs.store, name))
        record[rng.randrange(len(record))] ^= 1 << rng.randrange(8)
        blobs.store.write(name, [bytes(record)])
        with pytest.raises(DomainError) as caught:
            read(blobs, stored.blob_id)
        assert caught.value.code in {ErrorCode.INTEGRITY_ERROR, ErrorCode.CONFIGURATION}


def test_dropping_the_last_chunk_is_refused(blobs: EncryptedBlobs) -> None:
    data = os.urandom(3 * SMALL_CHUNK + 5)
    stored = blobs.put([data], content_type="text/plain")
    header, records = split_records(raw(blobs.store, stored.blob_id))
    blobs.store.write(stored.blob_id, [header, *records[:-1]])
    got, error = read_until_error(blobs, stored.blob_id)
    assert error is not None
    assert got == data[: 3 * SMALL_CHUNK]


def test_reordered_chunks_are_refused(blobs: EncryptedBlobs) -> None:
    stored = blobs.put([os.urandom(4 * SMALL_CHUNK)], content_type="text/plain")
    header, records = split_records(raw(blobs.store, stored.blob_id))
    records[1], records[2] = records[2], records[1]
    blobs.store.write(stored.blob_id, [header, *records])
    got, error = read_until_error(blobs, stored.blob_id)
    assert error is not None
    assert len(got) == SMALL_CHUNK


def test_chunk_swapped_between_blobs_is_refused(blobs: EncryptedBlobs) -> None:
    a = blobs.put([os.urandom(3 * SMALL_CHUNK)], content_type="text/plain")
    b = blobs.put([os.urandom(3 * SMALL_CHUNK)], content_type="text/plain")
    header_a, records_a = split_records(raw(blobs.store, a.blob_id))
    _, records_b = split_records(raw(blobs.store, b.blob_id))
    records_a[1] = records_b[1]
    blobs.store.write(a.blob_id, [header_a, *records_a])
    _, error = read_until_error(blobs, a.blob_id)
    assert error is not None


def test_whole_blob_swapped_under_another_id_is_refused(blobs: EncryptedBlobs) -> None:
    a = blobs.put([b"patient a"], content_type="text/plain")
    b = blobs.put([b"patient b"], content_type="text/plain")
    blobs.store.write(a.blob_id, [raw(blobs.store, b.blob_id)])
    blobs.store.write(a.blob_id + ".key", [raw(blobs.store, b.blob_id + ".key")])
    _, error = read_until_error(blobs, a.blob_id)
    assert error is not None


def test_memory_and_local_stores_hold_identical_formats(tmp_path: Path) -> None:
    # The twin must not be a shortcut: its objects decrypt with the same code path.
    keyring = Keyring.generate()
    memory_store = MemoryBlobStore()
    stored = EncryptedBlobs(memory_store, keyring).put([b"twin"], content_type="text/plain")
    local = EncryptedBlobs(LocalBlobStore(tmp_path), keyring)
    for name, data in memory_store.raw_objects().items():
        local.store.write(name, [data])
    assert read(local, stored.blob_id) == b"twin"


def test_stream_over_the_size_limit_is_refused_and_not_kept(blobs: EncryptedBlobs) -> None:
    with pytest.raises(DomainError) as caught:
        blobs.put([b"x" * 3000, b"y" * 3000], content_type="text/plain", max_size=5000)
    assert caught.value.code is ErrorCode.PAYLOAD_TOO_LARGE
    assert list(blobs.store.list_names()) == []
    stored = blobs.put([b"x" * 5000], content_type="text/plain", max_size=5000)
    assert stored.size == 5000
