"""How a PATCH body is cut into appends, without a server or a store."""

from __future__ import annotations

import os
from typing import Any, cast

import pytest

from telehealth.review import uploads
from telehealth.review.tables import ReviewUpload

APPEND = uploads.APPEND_SIZE


def _patch(length: int, checksum: tuple[str, bytes] | None = None) -> uploads.Patch:
    upload = ReviewUpload(length=length)
    # Feeding and taking touch neither the storage nor the lease.
    unused = cast(Any, None)
    return uploads.Patch(upload, unused, unused, checksum, 0, 0, checked_type=True)


@pytest.mark.parametrize("piece", [1, 4096, 300_001, APPEND, APPEND + 1, 3 * APPEND])
def test_body_is_appended_in_whole_chunks_in_order(piece: int) -> None:
    body = os.urandom(3 * APPEND + 12345)
    patch = _patch(len(body))
    appended: list[bytes] = []
    for start in range(0, len(body), piece):
        uploads.feed(patch, body[start : start + piece])
        while uploads.ready(patch):
            appended.append(b"".join(uploads.take(patch)))
    assert patch.received_size == 12345
    appended.append(b"".join(uploads.take(patch)))
    assert [len(part) for part in appended] == [APPEND, APPEND, APPEND, 12345]
    assert b"".join(appended) == body
    assert patch.received_size == 0
    assert uploads.take(patch) == []


def test_a_checksummed_body_is_held_until_it_is_complete() -> None:
    patch = _patch(4 * APPEND, ("sha256", b""))
    uploads.feed(patch, os.urandom(3 * APPEND))
    assert not uploads.ready(patch)
    assert patch.received_size == 3 * APPEND


def test_append_stages_the_parts_from_one_reused_buffer_and_hashes_them() -> None:
    class Writer:
        def __init__(self) -> None:
            self.appended: list[bytes] = []
            self.hashed = bytearray()

        def stage(self, data: memoryview, *, sync: bool) -> None:
            assert not sync  # one fsync per PATCH, by make_durable
            self.appended.append(bytes(data))

        def digest(self, data: memoryview) -> None:
            self.hashed += data

    class Lease:
        writer = Writer()

    patch = _patch(3 * APPEND)
    patch.lease = cast(Any, Lease())
    body = os.urandom(2 * APPEND)
    for start in range(0, len(body), 100_000):
        uploads.feed(patch, body[start : start + 100_000])
    uploads.append_rest(patch)
    joined = patch.joined
    assert b"".join(Lease.writer.appended) == body
    assert [len(data) for data in Lease.writer.appended] == [APPEND, APPEND]
    assert Lease.writer.hashed == body
    uploads.feed(patch, b"tail")
    uploads.append_rest(patch)
    assert patch.joined is joined
    assert Lease.writer.appended[-1] == b"tail"
