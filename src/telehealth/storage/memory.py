"""In-memory twin of the blob store, used in tests and local runs.

It keeps the same contracts as the durable adapters (atomic writes, strict names, NOT_FOUND
before iteration), so code tested against it behaves the same on disk or S3.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.storage.ports import (
    DEFAULT_READ_SIZE,
    check_object_name,
    check_upload_id,
)


class MemoryBlobStore:
    def __init__(self, *, read_size: int = DEFAULT_READ_SIZE) -> None:
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._read_size = read_size
        self._staging = MemoryStaging(self)

    def write(self, name: str, pieces: Iterable[bytes]) -> int:
        check_object_name(name)
        # Collect first so a failing producer leaves no partial object behind.
        data = b"".join(pieces)
        with self._lock:
            self._objects[name] = data
        return len(data)

    def read(self, name: str) -> Iterator[bytes]:
        check_object_name(name)
        with self._lock:
            data = self._objects.get(name)
        if data is None:
            raise not_found("blob")
        return self._iter(data)

    def _iter(self, data: bytes) -> Iterator[bytes]:
        view = memoryview(data)
        for start in range(0, len(data), self._read_size):
            yield bytes(view[start : start + self._read_size])

    def exists(self, name: str) -> bool:
        check_object_name(name)
        with self._lock:
            return name in self._objects

    def delete(self, name: str) -> None:
        check_object_name(name)
        with self._lock:
            self._objects.pop(name, None)

    def list_names(self, suffix: str = "") -> Iterator[str]:
        with self._lock:
            names = [name for name in self._objects if name.endswith(suffix)]
        return iter(names)

    @property
    def staging(self) -> MemoryStaging:
        return self._staging

    def raw_objects(self) -> dict[str, bytes]:
        """A snapshot of every stored object, for tests that inspect ciphertext at rest."""
        with self._lock:
            return dict(self._objects)

    def replace_raw(self, name: str, data: bytes) -> None:
        """Overwrite stored bytes directly, for tests that simulate tampering."""
        with self._lock:
            self._objects[check_object_name(name)] = data


def _let_go() -> None:
    """Nothing to let go."""


class MemoryStaging:
    def __init__(self, store: MemoryBlobStore) -> None:
        self._store = store
        self._meta: dict[str, bytes] = {}
        self._data: dict[str, bytearray] = {}
        self._lock = threading.Lock()

    def create(self, upload_id: str, meta: bytes, initial_data: bytes) -> None:
        check_upload_id(upload_id)
        with self._lock:
            if upload_id in self._meta:
                raise DomainError(ErrorCode.ALREADY_EXISTS, "upload already exists")
            self._meta[upload_id] = meta
            self._data[upload_id] = bytearray(initial_data)

    def read_meta(self, upload_id: str) -> bytes:
        check_upload_id(upload_id)
        with self._lock:
            meta = self._meta.get(upload_id)
        if meta is None:
            raise not_found("upload")
        return meta

    def read_data(self, upload_id: str) -> Iterator[bytes]:
        with self._lock:
            data = self._data.get(check_upload_id(upload_id))
            snapshot = None if data is None else bytes(data)
        if snapshot is None:
            raise not_found("upload")
        return self._store._iter(snapshot)

    def append(
        self, upload_id: str, data: bytes | bytearray | memoryview, *, sync: bool = True
    ) -> int:
        with self._lock:
            buffer = self._buffer(upload_id)
            buffer += data
            return len(buffer)

    def hold(self, upload_id: str) -> Callable[[], None]:
        # One process: the review storage's per-upload lock is the whole story.
        return _let_go

    def length(self, upload_id: str) -> int:
        with self._lock:
            return len(self._buffer(upload_id))

    def sync(self, upload_id: str) -> None:
        with self._lock:
            self._buffer(upload_id)  # memory is as durable as it gets; only check it exists

    def truncate(self, upload_id: str, length: int) -> None:
        with self._lock:
            del self._buffer(upload_id)[length:]

    def promote(self, upload_id: str, name: str, trailer: bytes) -> None:
        with self._lock:
            data = bytes(self._buffer(upload_id)) + trailer
            del self._data[upload_id]
        self._store.write(name, [data])

    def discard(self, upload_id: str) -> None:
        check_upload_id(upload_id)
        with self._lock:
            self._meta.pop(upload_id, None)
            self._data.pop(upload_id, None)

    def replace_meta(self, upload_id: str, meta: bytes) -> None:
        with self._lock:
            if check_upload_id(upload_id) not in self._meta:
                raise not_found("upload")
            self._meta[upload_id] = meta

    def upload_ids(self) -> list[str]:
        with self._lock:
            return list(self._meta)

    def _buffer(self, upload_id: str) -> bytearray:
        buffer = self._data.get(check_upload_id(upload_id))
        if buffer is None:
            raise not_found("upload")
        return buffer

    def raw_data(self) -> dict[str, bytes]:
        """A snapshot of staged ciphertext, for tests that scan storage at rest."""
        with self._lock:
            return {key: bytes(value) for key, value in self._data.items()}
