"""botocore failures become DomainError at the S3 adapter boundary."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from botocore.config import Config
from botocore.stub import Stubber

from telehealth.errors import DomainError, ErrorCode
from telehealth.storage import EncryptedBlobs, Kek, Keyring, rotate_keys
from telehealth.storage.ports import BlobStore, new_blob_id
from telehealth.storage.s3 import MIN_PART_SIZE, S3BlobStore

from .support import make_s3_client

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


def test_missing_bucket_is_a_configuration_error(s3_client: S3Client) -> None:
    store = S3BlobStore(s3_client, "no-such-bucket-here")
    with pytest.raises(DomainError) as caught:
        store.write(new_blob_id(), [b"x"])
    assert caught.value.code is ErrorCode.CONFIGURATION
    assert caught.value.data["s3_code"] == "NoSuchBucket"


def test_missing_object_is_not_found(s3_store: S3BlobStore) -> None:
    with pytest.raises(DomainError) as caught:
        s3_store.read(new_blob_id())
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert not s3_store.exists(new_blob_id())


def test_unreachable_endpoint_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = Config(retries={"max_attempts": 1}, connect_timeout=1)
    client = make_s3_client(f"http://127.0.0.1:{port}", config)
    store = S3BlobStore(client, "bucket")
    for call in (
        lambda: store.write(new_blob_id(), [b"x"]),
        lambda: store.read(new_blob_id()),
        lambda: list(store.list_names()),
    ):
        with pytest.raises(DomainError) as caught:
            call()
        assert caught.value.code is ErrorCode.UNAVAILABLE
        assert "127.0.0.1" not in caught.value.message


@pytest.mark.parametrize(
    ("s3_code", "expected"),
    [
        ("AccessDenied", ErrorCode.CONFIGURATION),
        ("InternalError", ErrorCode.UNAVAILABLE),
        ("SlowDown", ErrorCode.UNAVAILABLE),
        ("NoSuchKey", ErrorCode.NOT_FOUND),
    ],
)
def test_service_errors_are_translated(
    s3_client: S3Client, s3_code: str, expected: ErrorCode
) -> None:
    store = S3BlobStore(s3_client, "bucket")
    with Stubber(s3_client) as stub:
        stub.add_client_error("get_object", service_error_code=s3_code, http_status_code=500)
        with pytest.raises(DomainError) as caught:
            store.read(new_blob_id())
    assert caught.value.code is expected


def test_failed_part_aborts_the_multipart_upload(s3_client: S3Client) -> None:
    store = S3BlobStore(s3_client, "bucket", part_size=MIN_PART_SIZE)
    with Stubber(s3_client) as stub:
        stub.add_response("create_multipart_upload", {"UploadId": "u1"})
        stub.add_client_error("upload_part", service_error_code="InternalError")
        stub.add_response("abort_multipart_upload", {})
        with pytest.raises(DomainError) as caught:
            store.write(new_blob_id(), [b"x" * MIN_PART_SIZE, b"y"])
        stub.assert_no_pending_responses()
    assert caught.value.code is ErrorCode.UNAVAILABLE


def test_failed_producer_leaves_no_multipart_upload_behind(
    s3_client: S3Client, s3_store: S3BlobStore
) -> None:
    def pieces() -> Iterator[bytes]:
        yield b"x" * (2 * MIN_PART_SIZE)
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError):
        s3_store.write(new_blob_id(), pieces())
    uploads = s3_client.list_multipart_uploads(Bucket=s3_store.bucket).get("Uploads", [])
    assert uploads == []


def test_resumable_uploads_need_a_staging_directory(s3_client: S3Client) -> None:
    blobs = EncryptedBlobs(S3BlobStore(s3_client, "bucket"), Keyring.generate())
    with pytest.raises(DomainError) as caught:
        blobs.new_writer("upload-without-staging")
    assert caught.value.code is ErrorCode.CONFIGURATION


def test_part_size_below_the_s3_minimum_is_refused(s3_client: S3Client) -> None:
    with pytest.raises(DomainError):
        S3BlobStore(s3_client, "bucket", part_size=1024)


def test_store_without_staging_still_satisfies_the_port_and_rotates(
    s3_client: S3Client, s3_bucket: str
) -> None:
    store = S3BlobStore(s3_client, s3_bucket)
    assert isinstance(store, BlobStore)
    keyring = Keyring.generate("k1")
    EncryptedBlobs(store, keyring).put([b"x"], content_type="text/plain")
    report = rotate_keys(store, keyring.with_new_current(Kek("k2", os.urandom(32))))
    assert (report.rewrapped, report.failed) == (1, ())
