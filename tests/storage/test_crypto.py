"""The stream format and key wrapping, without any store."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telehealth.errors import DomainError, ErrorCode
from telehealth.storage import crypto
from telehealth.storage.service import rechunk

CHUNK = 64
BLOB = "0" * 32
OTHER_BLOB = "1" * 32


def seal(data: bytes, key: bytes, blob_id: str = BLOB, chunk: int = CHUNK) -> bytes:
    return b"".join(crypto.encrypt_stream(key, blob_id, rechunk([data], chunk), chunk_size=chunk))


def records(sealed: bytes) -> tuple[bytes, list[bytes]]:
    """Split a stream into its header and its length-prefixed chunk records."""
    header, rest = sealed[: crypto.HEADER_SIZE], sealed[crypto.HEADER_SIZE :]
    out = []
    while rest:
        (length,) = struct.unpack(">I", rest[:4])
        out.append(rest[: 4 + length])
        rest = rest[4 + length :]
    return header, out


def read_until_error(key: bytes, blob_id: str, sealed: bytes) -> tuple[bytes, DomainError | None]:
    got = bytearray()
    try:
        for piece in crypto.decrypt_stream(key, blob_id, [sealed]):
            got += piece
    except DomainError as exc:
        return bytes(got), exc
    return bytes(got), None


@given(data=st.binary(max_size=700), split=st.integers(min_value=1, max_value=97))
@settings(max_examples=200)
def test_roundtrip_any_size_and_any_read_split(data: bytes, split: int) -> None:
    key = crypto.new_data_key()
    sealed = seal(data, key)
    pieces = [sealed[i : i + split] for i in range(0, len(sealed), split)]
    assert b"".join(crypto.decrypt_stream(key, BLOB, pieces)) == data


def test_empty_blob_is_one_final_chunk() -> None:
    key = crypto.new_data_key()
    _, recs = records(seal(b"", key))
    assert len(recs) == 1
    assert b"".join(crypto.decrypt_stream(key, BLOB, [seal(b"", key)])) == b""


def test_every_single_byte_flip_is_refused_before_its_chunk_is_yielded() -> None:
    key = crypto.new_data_key()
    data = os.urandom(CHUNK * 3 + 10)
    sealed = seal(data, key)
    header, recs = records(sealed)
    for position in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        got, error = read_until_error(key, BLOB, bytes(tampered))
        assert error is not None, position
        assert error.code is ErrorCode.INTEGRITY_ERROR
        # Only whole chunks that precede the damaged one may have been released.
        damaged_chunk = _chunk_index(position, header, recs)
        assert data.startswith(got)
        assert len(got) <= CHUNK * max(damaged_chunk, 0)


def _chunk_index(position: int, header: bytes, recs: list[bytes]) -> int:
    if position < len(header):
        return 0
    offset = len(header)
    for index, rec in enumerate(recs):
        offset += len(rec)
        if position < offset:
            return index
    raise AssertionError("position outside stream")


def test_truncation_at_a_chunk_boundary_is_refused_at_the_end() -> None:
    key = crypto.new_data_key()
    data = os.urandom(CHUNK * 3)
    header, recs = records(seal(data, key))
    got, error = read_until_error(key, BLOB, header + b"".join(recs[:-1]))
    assert error is not None
    assert error.code is ErrorCode.INTEGRITY_ERROR
    assert got == data[: CHUNK * 2]


@pytest.mark.parametrize("cut", [1, 5, crypto.TAG_SIZE + 3])
def test_truncation_inside_a_chunk_is_refused(cut: int) -> None:
    key = crypto.new_data_key()
    sealed = seal(os.urandom(CHUNK * 2 + 1), key)
    _, error = read_until_error(key, BLOB, sealed[:-cut])
    assert error is not None


def test_header_only_and_empty_streams_are_refused() -> None:
    key = crypto.new_data_key()
    header, _ = records(seal(b"x", key))
    for stream in (b"", header[:5], header):
        _, error = read_until_error(key, BLOB, stream)
        assert error is not None


def test_reordered_chunks_are_refused() -> None:
    key = crypto.new_data_key()
    data = os.urandom(CHUNK * 3 + 1)
    header, recs = records(seal(data, key))
    swapped = header + recs[1] + recs[0] + b"".join(recs[2:])
    got, error = read_until_error(key, BLOB, swapped)
    assert error is not None
    assert got == b""


def test_chunk_from_another_blob_is_refused_even_under_the_same_key() -> None:
    key = crypto.new_data_key()
    data_a, data_b = os.urandom(CHUNK * 3), os.urandom(CHUNK * 3)
    header_a, recs_a = records(seal(data_a, key, BLOB))
    _, recs_b = records(seal(data_b, key, OTHER_BLOB))
    spliced = header_a + recs_a[0] + recs_b[1] + recs_a[2]
    got, error = read_until_error(key, BLOB, spliced)
    assert error is not None
    assert got == data_a[:CHUNK]


def test_stream_read_under_another_blob_id_is_refused() -> None:
    key = crypto.new_data_key()
    _, error = read_until_error(key, OTHER_BLOB, seal(b"hello", key, BLOB))
    assert error is not None


def test_data_after_the_final_chunk_is_refused_before_the_final_chunk_is_yielded() -> None:
    key = crypto.new_data_key()
    data = os.urandom(CHUNK + 5)
    sealed = seal(data, key)
    _, recs = records(sealed)
    got, error = read_until_error(key, BLOB, sealed + recs[-1])
    assert error is not None
    assert got == data[:CHUNK]


def test_moving_the_final_flag_is_refused() -> None:
    key = crypto.new_data_key()
    data = os.urandom(CHUNK * 2)
    header, recs = records(seal(data, key))
    _, error = read_until_error(key, BLOB, header + recs[0])
    assert error is not None


def test_oversized_length_prefix_is_refused_without_allocating() -> None:
    key = crypto.new_data_key()
    header, _ = records(seal(b"abc", key))
    _, error = read_until_error(key, BLOB, header + struct.pack(">I", 2**31) + b"x" * 10)
    assert error is not None


def test_unknown_version_is_refused() -> None:
    key = crypto.new_data_key()
    sealed = bytearray(seal(b"abc", key))
    sealed[4] = 2
    _, error = read_until_error(key, BLOB, bytes(sealed))
    assert error is not None
    assert "version" in error.message


def test_nonce_layout_is_prefix_counter_flag() -> None:
    header = crypto.StreamHeader.new(CHUNK)
    nonce = crypto.chunk_nonce(header, 7, final=True)
    assert nonce == header.nonce_prefix + b"\x00\x00\x00\x07\x01"
    assert len(nonce) == 12


def test_each_stream_has_a_fresh_nonce_prefix() -> None:
    prefixes = {crypto.StreamHeader.new(CHUNK).nonce_prefix for _ in range(100)}
    assert len(prefixes) == 100


def test_wrapped_key_roundtrip_and_binding() -> None:
    kek, data_key = os.urandom(32), crypto.new_data_key()
    record = crypto.KeyRecord.parse(crypto.wrap_data_key(kek, "k1", data_key, BLOB).to_bytes())
    assert crypto.unwrap_data_key(kek, record, BLOB) == data_key
    with pytest.raises(DomainError) as moved:
        crypto.unwrap_data_key(kek, record, OTHER_BLOB)
    assert moved.value.code is ErrorCode.INTEGRITY_ERROR
    with pytest.raises(DomainError):
        crypto.unwrap_data_key(os.urandom(32), record, BLOB)
    relabelled = crypto.KeyRecord("k2", record.nonce, record.wrapped)
    with pytest.raises(DomainError):
        crypto.unwrap_data_key(kek, relabelled, BLOB)


@pytest.mark.parametrize(
    "raw", [b"", b"{}", b"not json", b'{"v":2,"alg":"A256GCM"}', b'{"v":1,"alg":"A256GCM"}']
)
def test_malformed_key_records_are_integrity_errors(raw: bytes) -> None:
    with pytest.raises(DomainError) as caught:
        crypto.KeyRecord.parse(raw)
    assert caught.value.code is ErrorCode.INTEGRITY_ERROR


def test_oversize_chunk_is_rejected_by_the_sealer() -> None:
    sealer = crypto.ChunkSealer(crypto.new_data_key(), crypto.StreamHeader.new(CHUNK), BLOB)
    with pytest.raises(DomainError):
        sealer.seal(b"x" * (CHUNK + 1), 0, final=True)
    with pytest.raises(DomainError):
        sealer.seal_into(b"x" * (CHUNK + 1), 0, True, memoryview(bytearray(2 * CHUNK)))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK])
def test_seal_into_writes_exactly_the_record_seal_returns(size: int) -> None:
    sealer = crypto.ChunkSealer(crypto.new_data_key(), crypto.StreamHeader.new(CHUNK), BLOB)
    plaintext = os.urandom(size)
    out = bytearray(b"\xee" * (3 + size + crypto.RECORD_OVERHEAD + 5))
    written = sealer.seal_into(memoryview(plaintext), 9, False, memoryview(out)[3:])
    assert written == size + crypto.RECORD_OVERHEAD
    assert out[3 : 3 + written] == sealer.seal(plaintext, 9, final=False)
    assert out[:3] == b"\xee" * 3
    assert out[3 + written :] == b"\xee" * 5


@given(
    pieces=st.lists(st.binary(max_size=300), max_size=12),
    chunk=st.integers(min_value=1, max_value=128),
)
def test_rechunk_keeps_bytes_and_flags_only_the_last(pieces: list[bytes], chunk: int) -> None:
    out = list(rechunk(pieces, chunk))
    assert b"".join(bytes(c) for c, _ in out) == b"".join(pieces)
    assert [final for _, final in out] == [False] * (len(out) - 1) + [True]
    assert all(len(c) == chunk for c, _ in out[:-1])
    assert 0 < len(out[-1][0]) <= chunk or len(out) == 1
