"""Two processes' review storages on one staging area (instances behind a load balancer sharing
the data directory, docs/deploy.md): PATCHes alternating between them append in order, and one
never resumes or appends while the other holds the upload."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from telehealth.config import ReviewSettings
from telehealth.errors import DomainError, ErrorCode
from telehealth.review.storage import ReviewStorage
from telehealth.storage import EncryptedBlobs, Keyring, LocalBlobStore

KEYRING = Keyring.generate()


def _instance(root: Path) -> ReviewStorage:
    """What one process builds over the shared directory."""
    return ReviewStorage(EncryptedBlobs(LocalBlobStore(root), KEYRING), ReviewSettings())


def _append(storage: ReviewStorage, upload_id: str, offset: int, data: bytes) -> int:
    """A PATCH: its offset must be the upload's, as tus requires."""
    lease = storage.acquire(upload_id)
    try:
        assert lease.writer.offset == offset
        return lease.writer.append(data)
    finally:
        lease.release()


def test_appends_alternating_between_instances_stay_in_order(tmp_path: Path) -> None:
    a, b = _instance(tmp_path), _instance(tmp_path)
    upload_id = os.urandom(16).hex()
    a.start(upload_id, "application/pdf")
    pieces = [os.urandom(70_000) for _ in range(5)]
    offset = 0
    for number, piece in enumerate(pieces):
        storage = (a, b)[number % 2]
        # HEAD answered by the instance about to take the PATCH: the other one's bytes count.
        assert storage.offset(upload_id) == offset
        offset = _append(storage, upload_id, offset, piece)
    lease = a.acquire(upload_id)
    try:
        stored = lease.writer.finalize()
    finally:
        lease.release()
    assert stored.sha256 == hashlib.sha256(b"".join(pieces)).hexdigest()


def test_an_upload_held_by_one_instance_is_busy_for_the_other(tmp_path: Path) -> None:
    a, b = _instance(tmp_path), _instance(tmp_path)
    upload_id = os.urandom(16).hex()
    a.start(upload_id, "application/pdf")
    lease = a.acquire(upload_id)
    try:
        lease.writer.append(b"x" * 1000)
        with pytest.raises(DomainError) as refused:
            b.acquire(upload_id)
        assert refused.value.code is ErrorCode.CONFLICT
    finally:
        lease.release()
    # Let go: the other instance resumes at the first one's offset.
    assert b.offset(upload_id) == 1000
