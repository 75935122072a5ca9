"""Helpers shared by the storage tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from telehealth.storage import LocalBlobStore, MemoryBlobStore
from telehealth.storage.local import LocalStaging
from telehealth.storage.ports import BlobStore
from telehealth.storage.s3 import S3BlobStore

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

SMALL_CHUNK = 1024


def make_s3_client(endpoint: str, config: Config | None = None) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def raw_objects(store: BlobStore) -> dict[str, bytes]:
    """Every stored object's raw bytes, read through the store itself."""
    return {name: b"".join(store.read(name)) for name in store.list_names()}


def all_raw_bytes(store: BlobStore, s3_client: S3Client | None = None) -> list[bytes]:
    """Everything the store holds at rest, including staging and temp files."""
    if isinstance(store, LocalBlobStore):
        return [p.read_bytes() for p in store.root.rglob("*") if p.is_file()]
    if isinstance(store, MemoryBlobStore):
        return [*store.raw_objects().values(), *store.staging.raw_data().values()]
    assert isinstance(store, S3BlobStore)
    assert s3_client is not None
    contents = s3_client.list_objects_v2(Bucket=store.bucket).get("Contents", [])
    found = [
        s3_client.get_object(Bucket=store.bucket, Key=o["Key"])["Body"].read() for o in contents
    ]
    staging = store.staging
    if isinstance(staging, LocalStaging) and staging.base.exists():
        found += [p.read_bytes() for p in staging.base.rglob("*") if p.is_file()]
    return found
