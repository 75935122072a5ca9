"""The BlobStore contract, run against every adapter."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from telehealth.errors import DomainError, ErrorCode
from telehealth.storage import LocalBlobStore, local
from telehealth.storage.local import start_writeback, write_atomic
from telehealth.storage.ports import BlobStore, StagingArea, new_blob_id

BAD_NAMES = [
    "",
    "..",
    "../" + "a" * 32,
    "a" * 32 + "/../x",
    "/etc/passwd",
    "A" * 32,
    "a" * 31,
    "a" * 33,
    "a" * 32 + ".KEY",
    "a" * 32 + ".",
    "a" * 32 + "\x00",
    "a" * 32 + "\n",
    ".key",
    "a" * 16 + "/" + "a" * 15,
    "..\\" + "a" * 30,
]


def test_write_read_delete(store: BlobStore) -> None:
    name = new_blob_id()
    data = os.urandom(3 * 1024 * 1024 + 7)
    assert store.write(name, [data[:10], data[10:]]) == len(data)
    assert store.exists(name)
    assert b"".join(store.read(name)) == data
    assert name in set(store.list_names())
    store.delete(name)
    assert not store.exists(name)
    store.delete(name)  # idempotent


def test_write_replaces(store: BlobStore) -> None:
    name = new_blob_id() + ".key"
    store.write(name, [b"old"])
    store.write(name, [b"new"])
    assert b"".join(store.read(name)) == b"new"
    assert list(store.list_names(".key")) == [name]


def test_empty_object(store: BlobStore) -> None:
    name = new_blob_id()
    store.write(name, [])
    assert b"".join(store.read(name)) == b""


def test_missing_object_raises_not_found_before_iteration(store: BlobStore) -> None:
    with pytest.raises(DomainError) as caught:
        store.read(new_blob_id())
    assert caught.value.code is ErrorCode.NOT_FOUND


def test_failed_write_leaves_nothing_visible(store: BlobStore, tmp_path: Path) -> None:
    name = new_blob_id()

    def broken() -> Iterator[bytes]:
        yield b"x" * (6 * 1024 * 1024)  # more than one S3 part
        yield b"y" * (6 * 1024 * 1024)
        raise RuntimeError("producer failed")

    with pytest.raises(RuntimeError):
        store.write(name, broken())
    assert not store.exists(name)
    assert list(store.list_names()) == []
    if isinstance(store, LocalBlobStore):
        assert [p for p in store.root.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("name", BAD_NAMES)
def test_path_traversal_and_malformed_names_are_rejected(store: BlobStore, name: str) -> None:
    for call in (
        lambda: store.write(name, [b"x"]),
        lambda: store.read(name),
        lambda: store.exists(name),
        lambda: store.delete(name),
    ):
        with pytest.raises(DomainError) as caught:
            call()
        assert caught.value.code is ErrorCode.INVALID_INPUT


@pytest.mark.parametrize("upload_id", ["", "../" + "a" * 20, "a" * 15, "a" * 20 + "/x", "." * 20])
def test_malformed_upload_ids_are_rejected(store: BlobStore, upload_id: str) -> None:
    staging: StagingArea = store.staging
    with pytest.raises(DomainError) as caught:
        staging.create(upload_id, b"{}", b"")
    assert caught.value.code is ErrorCode.INVALID_INPUT


def test_local_layout_stays_under_root(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")
    name = new_blob_id()
    store.write(name, [b"data"])
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [tmp_path / "root" / "objects" / name[:2] / name]
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"


def test_local_write_fsyncs_file_before_rename_and_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("rename")
        real_replace(src, dst)

    target = tmp_path / "x" / "obj"
    target.parent.mkdir()
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_atomic(target, [b"abc"])
    assert events == ["fsync-file", "rename", "fsync-dir"]


def test_local_unsynced_appends_start_writeback_and_sync_makes_them_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[object] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def writeback(fd: int, offset: int, length: int) -> None:
        events.append(("writeback", offset, length))
        start_writeback(fd, offset, length)

    staging = LocalBlobStore(tmp_path).staging
    upload = "upload-0000000000000001"
    staging.create(upload, b"{}", b"head")
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(local, "start_writeback", writeback)
    assert staging.append(upload, memoryview(b"abc"), sync=False) == 7
    assert staging.append(upload, bytearray(b"de"), sync=False) == 9
    assert events == [("writeback", 4, 3), ("writeback", 7, 2)]
    staging.sync(upload)
    assert events[-1] == "fsync"
    assert b"".join(staging.read_data(upload)) == b"headabcde"
