"""Pure cryptography for stored blobs: the chunked stream format and data-key wrapping.

Nothing here does I/O or knows about stores, settings or the web; see docs/storage-format.md
for the byte layout. Every failure is a ``DomainError`` whose message names the problem
without echoing key material or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from telehealth.errors import DomainError, ErrorCode

MAGIC = b"THSB"
FORMAT_VERSION = 1
KEY_SIZE = 32
TAG_SIZE = 16
NONCE_PREFIX_SIZE = 7
# magic, version, reserved (must be zero), nonce prefix, max plaintext chunk size
_HEADER = struct.Struct(">4sBB7sI")
HEADER_SIZE = _HEADER.size
_LENGTH = struct.Struct(">I")
LENGTH_SIZE = _LENGTH.size
RECORD_OVERHEAD = LENGTH_SIZE + TAG_SIZE
DEFAULT_CHUNK_SIZE = 1024 * 1024
# A hard ceiling so a forged header or length prefix can never make a reader allocate much.
MAX_CHUNK_SIZE = 64 * 1024 * 1024
MAX_CHUNKS = 2**32
_AD_LABEL = b"telehealth.storage.stream.v1\x00"
_WRAP_LABEL = b"telehealth.storage.dek.v1\x00"
KEY_RECORD_VERSION = 1


def integrity_error(what: str) -> DomainError:
    return DomainError(ErrorCode.INTEGRITY_ERROR, f"stored blob failed verification: {what}")


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


@dataclass(frozen=True)
class StreamHeader:
    nonce_prefix: bytes
    chunk_size: int

    @classmethod
    def new(cls, chunk_size: int = DEFAULT_CHUNK_SIZE) -> StreamHeader:
        check_chunk_size(chunk_size)
        return cls(os.urandom(NONCE_PREFIX_SIZE), chunk_size)

    def to_bytes(self) -> bytes:
        return _HEADER.pack(MAGIC, FORMAT_VERSION, 0, self.nonce_prefix, self.chunk_size)

    @classmethod
    def parse(cls, raw: bytes) -> StreamHeader:
        if len(raw) != HEADER_SIZE:
            raise integrity_error("header is truncated")
        magic, version, reserved, prefix, chunk_size = _HEADER.unpack(raw)
        if magic != MAGIC or reserved != 0:
            raise integrity_error("not a blob stream")
        if version != FORMAT_VERSION:
            raise integrity_error("unsupported stream format version")
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise integrity_error("invalid chunk size in header")
        return cls(prefix, chunk_size)


def check_chunk_size(chunk_size: int) -> None:
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise DomainError(ErrorCode.CONFIGURATION, "chunk size out of range")


def associated_data(header: StreamHeader, blob_id: str) -> bytes:
    # Binding the blob id means a chunk (or a whole stream) copied under another id fails, even
    # if a data key were ever shared; binding the header protects the nonce prefix and version.
    return _AD_LABEL + header.to_bytes() + blob_id.encode("ascii")


def chunk_nonce(header: StreamHeader, counter: int, final: bool) -> bytes:
    if not 0 <= counter < MAX_CHUNKS:
        raise DomainError(ErrorCode.PAYLOAD_TOO_LARGE, "blob has too many chunks")
    return header.nonce_prefix + struct.pack(">IB", counter, 1 if final else 0)


class ChunkSealer:
    """Seals chunk records for one stream; the caller keeps the chunk counter.

    Keeping the counter outside lets a resumable writer rebuild it from durable state.
    """

    def __init__(self, data_key: bytes, header: StreamHeader, blob_id: str) -> None:
        self._aead = AESGCM(data_key)
        self.header = header
        self._ad = associated_data(header, blob_id)

    def seal(self, plaintext: bytes | bytearray | memoryview, counter: int, final: bool) -> bytes:
        """Return one chunk record: big-endian ciphertext length, then ciphertext and tag."""
        if len(plaintext) > self.header.chunk_size:
            raise DomainError(ErrorCode.INVALID_INPUT, "chunk exceeds the stream chunk size")
        nonce = chunk_nonce(self.header, counter, final)
        sealed = self._aead.encrypt(nonce, plaintext, self._ad)
        return _LENGTH.pack(len(sealed)) + sealed

    def seal_into(
        self,
        plaintext: bytes | bytearray | memoryview,
        counter: int,
        final: bool,
        out: memoryview,
    ) -> int:
        """Write the record :meth:`seal` would return at the start of ``out``; return its size.

        Encrypting in place spares a fresh allocation and a copy per chunk, which cost more
        than the cipher itself: a writer sealing many chunks reuses one buffer.
        """
        if len(plaintext) > self.header.chunk_size:
            raise DomainError(ErrorCode.INVALID_INPUT, "chunk exceeds the stream chunk size")
        sealed_size = len(plaintext) + TAG_SIZE
        _LENGTH.pack_into(out, 0, sealed_size)
        nonce = chunk_nonce(self.header, counter, final)
        body = out[LENGTH_SIZE : LENGTH_SIZE + sealed_size]
        self._aead.encrypt_into(nonce, plaintext, self._ad, body)
        return LENGTH_SIZE + sealed_size

    def open(self, sealed: bytes | bytearray | memoryview, counter: int, final: bool) -> bytes:
        """Authenticate and decrypt one record body (without its length prefix)."""
        nonce = chunk_nonce(self.header, counter, final)
        try:
            return self._aead.decrypt(nonce, sealed, self._ad)
        except InvalidTag:
            raise integrity_error("chunk authentication failed") from None


def encrypt_stream(
    data_key: bytes,
    blob_id: str,
    chunks: Iterable[tuple[bytes | bytearray | memoryview, bool]],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[bytes]:
    """Yield the header, then one record per ``(plaintext, final)`` pair, in order.

    Exactly one pair, the last, must be final; the caller decides where boundaries fall.
    """
    sealer = ChunkSealer(data_key, StreamHeader.new(chunk_size), blob_id)
    yield sealer.header.to_bytes()
    finished = False
    for counter, (plaintext, final) in enumerate(chunks):
        if finished:
            raise DomainError(ErrorCode.INVALID_STATE, "data after the final chunk")
        yield sealer.seal(plaintext, counter, final)
        finished = final
    if not finished:
        raise DomainError(ErrorCode.INVALID_STATE, "stream ended without a final chunk")


class ByteReader:
    """Pulls exact byte counts out of an iterator of arbitrarily sized pieces."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self._buffer = bytearray()
        self.consumed = 0

    def read_exact(self, size: int) -> bytes | None:
        """Return ``size`` bytes, or None if the source ends first (the partial rest stays)."""
        while len(self._buffer) < size:
            piece = next(self._pieces, None)
            if piece is None:
                return None
            self._buffer += piece
        out = bytes(memoryview(self._buffer)[:size])
        del self._buffer[:size]
        self.consumed += size
        return out

    def drain(self) -> int:
        """Consume everything left and return how many bytes that was."""
        left = len(self._buffer)
        self._buffer.clear()
        for piece in self._pieces:
            left += len(piece)
        return left

    def at_end(self) -> bool:
        while not self._buffer:
            piece = next(self._pieces, None)
            if piece is None:
                return True
            self._buffer += piece
        return False


def decrypt_stream(data_key: bytes, blob_id: str, pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Yield plaintext chunk by chunk; each chunk is authenticated before it is yielded.

    Truncation, reordering, foreign chunks and trailing data raise ``INTEGRITY_ERROR``. A
    truncated stream raises only once its end is reached, after the authentic chunks before
    the cut: callers must treat the content as complete only when iteration ends normally.
    """
    reader = ByteReader(pieces)
    raw_header = reader.read_exact(HEADER_SIZE)
    if raw_header is None:
        raise integrity_error("header is truncated")
    header = StreamHeader.parse(raw_header)
    sealer = ChunkSealer(data_key, header, blob_id)
    counter = 0
    while True:
        body = _read_record_body(reader, header)
        if body is None:
            raise integrity_error("stream is truncated")
        plaintext, final = _open_either(sealer, body, counter)
        if final:
            # A final chunk followed by anything is a spliced stream: refuse before yielding.
            if not reader.at_end():
                raise integrity_error("data after the final chunk")
            yield plaintext
            return
        yield plaintext
        counter += 1


def _read_record_body(reader: ByteReader, header: StreamHeader) -> bytes | None:
    raw_length = reader.read_exact(LENGTH_SIZE)
    if raw_length is None:
        return None
    (length,) = _LENGTH.unpack(raw_length)
    if not TAG_SIZE <= length <= header.chunk_size + TAG_SIZE:
        raise integrity_error("invalid chunk length")
    return reader.read_exact(length)


def _open_either(sealer: ChunkSealer, body: bytes, counter: int) -> tuple[bytes, bool]:
    # The final flag lives only in the nonce, so try "not final" first (the common case).
    try:
        return sealer.open(body, counter, final=False), False
    except DomainError:
        return sealer.open(body, counter, final=True), True


# --- data-key wrapping -------------------------------------------------------------------


@dataclass(frozen=True)
class KeyRecord:
    """A data key wrapped under one KEK; serialised as the small ``<blob_id>.key`` object."""

    kek_id: str
    nonce: bytes
    wrapped: bytes

    def to_bytes(self) -> bytes:
        doc = {
            "v": KEY_RECORD_VERSION,
            "alg": "A256GCM",
            "kek": self.kek_id,
            "nonce": base64.b64encode(self.nonce).decode("ascii"),
            "wrapped": base64.b64encode(self.wrapped).decode("ascii"),
        }
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("ascii")

    @classmethod
    def parse(cls, raw: bytes) -> KeyRecord:
        try:
            doc = json.loads(raw)
            if doc["v"] != KEY_RECORD_VERSION or doc["alg"] != "A256GCM":
                raise integrity_error("unsupported key record")
            kek_id = doc["kek"]
            nonce = base64.b64decode(doc["nonce"], validate=True)
            wrapped = base64.b64decode(doc["wrapped"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise integrity_error("malformed key record") from None
        if not isinstance(kek_id, str) or len(nonce) != 12:
            raise integrity_error("malformed key record")
        return cls(kek_id, nonce, wrapped)


def _wrap_ad(kek_id: str, blob_id: str) -> bytes:
    # Binding the blob id stops a key record being copied beside another blob.
    return _WRAP_LABEL + kek_id.encode("ascii") + b"\x00" + blob_id.encode("ascii")


def wrap_data_key(kek: bytes, kek_id: str, data_key: bytes, blob_id: str) -> KeyRecord:
    nonce = os.urandom(12)
    wrapped = AESGCM(kek).encrypt(nonce, data_key, _wrap_ad(kek_id, blob_id))
    return KeyRecord(kek_id, nonce, wrapped)


def unwrap_data_key(kek: bytes, record: KeyRecord, blob_id: str) -> bytes:
    try:
        data_key = AESGCM(kek).decrypt(
            record.nonce, record.wrapped, _wrap_ad(record.kek_id, blob_id)
        )
    except InvalidTag:
        raise integrity_error("data key could not be unwrapped") from None
    if len(data_key) != KEY_SIZE:
        raise integrity_error("data key has the wrong size")
    return data_key
