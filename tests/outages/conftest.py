"""Fixtures for outage tests: the storage tests' moto S3 server, shared."""

from __future__ import annotations

from tests.storage.conftest import s3_client, s3_endpoint

__all__ = ["s3_client", "s3_endpoint"]
