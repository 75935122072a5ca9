"""Fixtures for storage tests: keyrings, the three stores, and a real moto S3 server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from telehealth.storage import EncryptedBlobs, Kek, Keyring, LocalBlobStore, MemoryBlobStore
from telehealth.storage.ports import BlobStore
from telehealth.storage.s3 import MIN_PART_SIZE, S3BlobStore
from tests.processes import running

from .support import SMALL_CHUNK, make_s3_client

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("moto_server exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("moto_server did not start in time")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    moto = Path(sys.executable).with_name("moto_server")
    port = _free_port()
    with running([str(moto), "-H", "127.0.0.1", "-p", str(port)]) as process:
        _wait_for(port, process)
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def s3_client(s3_endpoint: str) -> S3Client:
    return make_s3_client(s3_endpoint)


@pytest.fixture
def s3_bucket(s3_client: S3Client) -> str:
    name = f"test-{uuid.uuid4().hex}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_store(s3_client: S3Client, s3_bucket: str, tmp_path: Path) -> S3BlobStore:
    return S3BlobStore(
        s3_client,
        s3_bucket,
        prefix="blobs/",
        staging_dir=tmp_path / "s3-staging",
        part_size=MIN_PART_SIZE,
    )


@pytest.fixture(params=["memory", "local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    kind = request.param
    if kind == "memory":
        return MemoryBlobStore()
    if kind == "local":
        return LocalBlobStore(tmp_path / "store")
    s3: S3BlobStore = request.getfixturevalue("s3_store")
    return s3


@pytest.fixture
def keyring() -> Keyring:
    return Keyring([Kek("k1", bytes(range(32)))])


@pytest.fixture
def blobs(store: BlobStore, keyring: Keyring) -> EncryptedBlobs:
    return EncryptedBlobs(store, keyring, chunk_size=SMALL_CHUNK)
