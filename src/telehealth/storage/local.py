"""Local-filesystem blob store, the default adapter.

Layout under the root directory::

    objects/<first two hex digits>/<name>     published objects (blobs and key records)
    staging/<upload_id>/meta, data            resumable uploads in progress (ciphertext)

Every publish is write-to-temp in the target directory, fsync the file, rename, fsync the
directory: after a crash an object is either absent or complete, never torn.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.storage.ports import (
    DEFAULT_READ_SIZE,
    check_object_name,
    check_upload_id,
)

_TMP_PREFIX = ".tmp-"
_DIR_MODE = 0o700
_SYNC_FILE_RANGE_WRITE = 2  # from <fcntl.h>: start writeback, do not wait for it


def _io_error(action: str) -> DomainError:
    return DomainError(ErrorCode.UNAVAILABLE, f"blob storage {action} failed")


def _load_sync_file_range() -> Any:
    # Linux's sync_file_range is not exposed by the os module.
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), "sync_file_range", None)
    except OSError:
        return None
    if function is not None:
        function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
        function.restype = ctypes.c_int
    return function


_sync_file_range = _load_sync_file_range()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing a just-written range to disk without waiting for it.

    The fsync that later makes the range durable then finds little left to write, so a
    request that appends while it receives is not held up at its end by all it appended.
    Only a hint: where it is unavailable, or fails, the fsync does all the work as before.
    """
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path) -> None:
    """Create ``path`` (and parents) so that the new directory entries survive a crash."""
    if path.is_dir():
        return
    ensure_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=_DIR_MODE)
    fsync_dir(path.parent)


@contextlib.contextmanager
def storage_io(action: str) -> Iterator[None]:
    """Translate filesystem failures into the error model (paths are not echoed)."""
    try:
        yield
    except OSError as exc:
        raise _io_error(action) from exc


def write_atomic(target: Path, pieces: Iterable[bytes]) -> int:
    """Write ``pieces`` to ``target`` so readers see either the old file or all new bytes.

    Filesystem failures become ``DomainError``; an exception from the producer of ``pieces``
    propagates unchanged, so a failing source is not mistaken for a failing disk.
    """
    with storage_io("write"):
        ensure_dir(target.parent)
        fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
    size = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in pieces:
                with storage_io("write"):
                    handle.write(piece)
                size += len(piece)
            with storage_io("write"):
                handle.flush()
                os.fsync(handle.fileno())
        with storage_io("write"):
            os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    with storage_io("write"):
        fsync_dir(target.parent)
    return size


def iter_file(path: Path, read_size: int) -> Iterator[bytes]:
    """Stream a file, opening it lazily so an unconsumed iterator holds no descriptor."""
    try:
        with path.open("rb") as handle:
            while piece := handle.read(read_size):
                yield piece
    except FileNotFoundError:
        raise not_found("blob") from None
    except OSError as exc:
        raise _io_error("read") from exc


class LocalBlobStore:
    def __init__(self, root: Path | str, *, read_size: int = DEFAULT_READ_SIZE) -> None:
        self.root = Path(root)
        self._objects = self.root / "objects"
        self._read_size = read_size
        self._staging = LocalStaging(self.root / "staging", publish=self._adopt)

    def _path(self, name: str) -> Path:
        check_object_name(name)
        return self._objects / name[:2] / name

    def write(self, name: str, pieces: Iterable[bytes]) -> int:
        return write_atomic(self._path(name), pieces)

    def read(self, name: str) -> Iterator[bytes]:
        path = self._path(name)
        if not path.is_file():
            raise not_found("blob")
        return iter_file(path, self._read_size)

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _io_error("delete") from exc
        with storage_io("delete"):
            fsync_dir(path.parent)

    def list_names(self, suffix: str = "") -> Iterator[str]:
        if not self._objects.is_dir():
            return
        for shard in sorted(self._objects.iterdir()):
            if not shard.is_dir():
                continue
            for entry in shard.iterdir():
                name = entry.name
                if name.startswith(_TMP_PREFIX) or not name.endswith(suffix):
                    continue
                yield name

    @property
    def staging(self) -> LocalStaging:
        return self._staging

    def _adopt(self, source: Path, name: str) -> None:
        """Publish a durable file from the same filesystem by renaming it into place."""
        target = self._path(name)
        ensure_dir(target.parent)
        os.replace(source, target)
        fsync_dir(target.parent)
        fsync_dir(source.parent)


def _let_go() -> None:
    """The release of a hold that needed none."""


class LocalStaging:
    """Staging directory for resumable uploads: one directory per upload id."""

    def __init__(
        self,
        base: Path,
        *,
        publish: Callable[[Path, str], None],
        read_size: int = DEFAULT_READ_SIZE,
    ) -> None:
        self.base = base
        self._publish = publish
        self._read_size = read_size

    def _dir(self, upload_id: str) -> Path:
        return self.base / check_upload_id(upload_id)

    def create(self, upload_id: str, meta: bytes, initial_data: bytes) -> None:
        directory = self._dir(upload_id)
        with storage_io("staging write"):
            ensure_dir(self.base)
            try:
                directory.mkdir(mode=_DIR_MODE)
            except FileExistsError:
                if (directory / "meta").is_file():
                    raise DomainError(ErrorCode.ALREADY_EXISTS, "upload already exists") from None
                # A crash during an earlier create left a directory without meta: nothing was
                # acknowledged, so it is safe to start over.
                shutil.rmtree(directory)
                directory.mkdir(mode=_DIR_MODE)
        write_atomic(directory / "data", [initial_data])
        # meta last: its presence is what makes the upload exist.
        write_atomic(directory / "meta", [meta])
        with storage_io("staging write"):
            fsync_dir(self.base)

    def read_meta(self, upload_id: str) -> bytes:
        try:
            return (self._dir(upload_id) / "meta").read_bytes()
        except FileNotFoundError:
            raise not_found("upload") from None

    def read_data(self, upload_id: str) -> Iterator[bytes]:
        path = self._dir(upload_id) / "data"
        if not path.is_file():
            raise not_found("upload")
        return iter_file(path, self._read_size)

    def append(
        self, upload_id: str, data: bytes | bytearray | memoryview, *, sync: bool = True
    ) -> int:
        path = self._dir(upload_id) / "data"
        try:
            with path.open("ab") as handle:
                start = handle.tell()
                handle.write(data)
                handle.flush()
                end = handle.tell()
                if sync:
                    os.fsync(handle.fileno())
                else:
                    start_writeback(handle.fileno(), start, end - start)
                return end
        except FileNotFoundError:
            raise not_found("upload") from None
        except OSError as exc:
            raise _io_error("staging append") from exc

    def hold(self, upload_id: str) -> Callable[[], None]:
        # flock on a file in the upload's directory: instances sharing the staging volume
        # (docs/deploy.md) never resume or append to one upload at once. The lock goes with
        # the descriptor, so a killed process lets go of it.
        try:
            descriptor = os.open(self._dir(upload_id) / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            return _let_go
        except OSError as exc:
            raise _io_error("staging lock") from exc
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise DomainError(
                ErrorCode.CONFLICT, "the upload is busy with another request"
            ) from None
        return functools.partial(os.close, descriptor)

    def length(self, upload_id: str) -> int:
        try:
            return (self._dir(upload_id) / "data").stat().st_size
        except FileNotFoundError:
            raise not_found("upload") from None

    def sync(self, upload_id: str) -> None:
        path = self._dir(upload_id) / "data"
        try:
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        except FileNotFoundError:
            raise not_found("upload") from None
        except OSError as exc:
            raise _io_error("staging sync") from exc

    def truncate(self, upload_id: str, length: int) -> None:
        path = self._dir(upload_id) / "data"
        try:
            with path.open("r+b") as handle:
                handle.truncate(length)
                os.fsync(handle.fileno())
        except FileNotFoundError:
            raise not_found("upload") from None
        except OSError as exc:
            raise _io_error("staging truncate") from exc

    def promote(self, upload_id: str, name: str, trailer: bytes) -> None:
        self.append(upload_id, trailer)
        try:
            self._publish(self._dir(upload_id) / "data", name)
        except OSError as exc:
            raise _io_error("publish") from exc

    def discard(self, upload_id: str) -> None:
        directory = self._dir(upload_id)
        if not directory.exists():
            return
        # Remove meta first so a crash part-way leaves an upload that no longer exists.
        with storage_io("staging discard"):
            with contextlib.suppress(FileNotFoundError):
                (directory / "meta").unlink()
            fsync_dir(directory)
            shutil.rmtree(directory, ignore_errors=True)
            fsync_dir(self.base)

    def replace_meta(self, upload_id: str, meta: bytes) -> None:
        directory = self._dir(upload_id)
        if not (directory / "meta").is_file():
            raise not_found("upload")
        write_atomic(directory / "meta", [meta])

    def upload_ids(self) -> list[str]:
        if not self.base.is_dir():
            return []
        return sorted(d.name for d in self.base.iterdir() if (d / "meta").is_file())
