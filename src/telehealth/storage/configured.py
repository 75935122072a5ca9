"""The blob store the settings choose (``TELEHEALTH_BLOB_BACKEND``)."""

from __future__ import annotations

from telehealth.config import Settings
from telehealth.errors import DomainError, ErrorCode
from telehealth.storage.local import LocalBlobStore
from telehealth.storage.memory import MemoryBlobStore
from telehealth.storage.ports import BlobStore


def configured_store(settings: Settings) -> BlobStore:
    if settings.blob_backend == "memory":
        return MemoryBlobStore()
    if settings.blob_backend == "s3":
        # Only deployments on S3 load boto3.
        import boto3

        from telehealth.storage.s3 import S3BlobStore

        if not settings.s3_bucket:
            raise DomainError(ErrorCode.CONFIGURATION, "TELEHEALTH_S3_BUCKET is not set")
        client = boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region
        )
        return S3BlobStore(client, settings.s3_bucket, staging_dir=settings.data_dir / "s3-staging")
    return LocalBlobStore(settings.blob_dir)
