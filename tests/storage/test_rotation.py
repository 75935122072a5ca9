"""Key rotation re-wraps data keys only; blob ciphertext stays byte-for-byte the same."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import pytest

from telehealth.errors import DomainError, ErrorCode
from telehealth.storage import EncryptedBlobs, Kek, Keyring, StoredBlob, crypto, rotate_keys
from telehealth.storage.ports import BlobStore, StagingArea

from .support import SMALL_CHUNK

K1 = Kek("k1", bytes(range(32)))
K2 = Kek("k2", bytes(range(100, 132)))


def blob_bytes(store: BlobStore) -> dict[str, bytes]:
    return {
        name: b"".join(store.read(name)) for name in store.list_names() if not name.endswith(".key")
    }


def key_records(store: BlobStore) -> dict[str, crypto.KeyRecord]:
    return {
        name: crypto.KeyRecord.parse(b"".join(store.read(name)))
        for name in store.list_names(".key")
    }


def fill(blobs: EncryptedBlobs, count: int) -> dict[str, tuple[StoredBlob, bytes]]:
    out = {}
    for i in range(count):
        data = os.urandom(i * 700)
        stored = blobs.put([data], content_type="application/octet-stream")
        out[stored.blob_id] = (stored, data)
    return out


def test_rotation_rewraps_keys_without_touching_blobs(store: BlobStore) -> None:
    old = EncryptedBlobs(store, Keyring([K1]), chunk_size=SMALL_CHUNK)
    contents = fill(old, 8)
    writer = old.new_writer("upload-during-rotation")
    writer.append(b"staged before rotation ")
    before = blob_bytes(store)

    report = rotate_keys(store, Keyring([K2, K1]))

    assert (report.rewrapped, report.already_current, report.failed) == (8, 0, ())
    assert report.staged_rewrapped == 1
    assert blob_bytes(store) == before
    assert {r.kek_id for r in key_records(store).values()} == {"k2"}

    # The old KEK is gone: everything still reads, including the upload staged before.
    new_only = EncryptedBlobs(store, Keyring([K2]), chunk_size=SMALL_CHUNK)
    for blob_id, (_, data) in contents.items():
        assert b"".join(new_only.open(blob_id)) == data
    resumed = new_only.resume_writer("upload-during-rotation")
    resumed.append(b"and after")
    stored = resumed.finalize()
    assert stored.kek_id == "k2"
    assert b"".join(new_only.open(stored.blob_id)) == b"staged before rotation and after"

    again = rotate_keys(store, Keyring([K2]))
    assert (again.rewrapped, again.already_current) == (0, 9)


def test_old_keyring_alone_cannot_read_after_rotation(store: BlobStore) -> None:
    old = EncryptedBlobs(store, Keyring([K1]), chunk_size=SMALL_CHUNK)
    blob_id = next(iter(fill(old, 1)))
    rotate_keys(store, Keyring([K2, K1]))
    with pytest.raises(DomainError) as caught:
        old.open(blob_id)
    assert caught.value.code is ErrorCode.CONFIGURATION


def test_writer_started_before_rotation_finalizes_under_the_new_kek(store: BlobStore) -> None:
    old = EncryptedBlobs(store, Keyring([K1]), chunk_size=SMALL_CHUNK)
    writer = old.new_writer("upload-long-running")
    writer.append(b"first")
    rotate_keys(store, Keyring([K2, K1]))
    writer.append(b" second")
    stored = writer.finalize()
    assert stored.kek_id == "k2"
    reader = EncryptedBlobs(store, Keyring([K2]))
    assert b"".join(reader.open(stored.blob_id)) == b"first second"


class CrashingStore:
    """Delegates to a real store but dies (like a killed process) after N key writes."""

    def __init__(self, inner: BlobStore, writes_before_crash: int) -> None:
        self.inner = inner
        self.left = writes_before_crash

    def write(self, name: str, pieces: Iterable[bytes]) -> int:
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return self.inner.write(name, pieces)

    def read(self, name: str) -> Iterator[bytes]:
        return self.inner.read(name)

    def exists(self, name: str) -> bool:
        return self.inner.exists(name)

    def delete(self, name: str) -> None:
        self.inner.delete(name)

    def list_names(self, suffix: str = "") -> Iterator[str]:
        return self.inner.list_names(suffix)

    @property
    def staging(self) -> StagingArea:
        return self.inner.staging


def test_rotation_interrupted_midway_leaves_everything_readable_and_can_finish(
    store: BlobStore,
) -> None:
    old = EncryptedBlobs(store, Keyring([K1]), chunk_size=SMALL_CHUNK)
    contents = fill(old, 6)
    both = Keyring([K2, K1])
    with pytest.raises(KeyboardInterrupt):
        rotate_keys(CrashingStore(store, writes_before_crash=3), both)
    kinds = sorted(r.kek_id for r in key_records(store).values())
    assert kinds == ["k1"] * 3 + ["k2"] * 3
    readable = EncryptedBlobs(store, both)
    for blob_id, (_, data) in contents.items():
        assert b"".join(readable.open(blob_id)) == data

    report = rotate_keys(store, both)
    assert (report.rewrapped, report.already_current) == (3, 3)


def test_records_under_an_unknown_kek_are_reported_not_fatal(store: BlobStore) -> None:
    stray = EncryptedBlobs(store, Keyring([Kek("k0", os.urandom(32))]))
    lost = stray.put([b"x"], content_type="text/plain")
    fill(EncryptedBlobs(store, Keyring([K1])), 2)
    report = rotate_keys(store, Keyring([K2, K1]))
    assert report.failed == (lost.blob_id,)
    assert report.rewrapped == 2
