"""S3-compatible blob store (boto3).

Large objects go up as multipart uploads of ``part_size`` bytes, so memory stays bounded by
one part. botocore exceptions are translated into ``DomainError`` here and nowhere else.
Resumable uploads are staged on local disk (ciphertext only) and uploaded on finalize.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from botocore.response import StreamingBody

from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.storage.local import LocalStaging, iter_file
from telehealth.storage.ports import DEFAULT_READ_SIZE, StagingArea, check_object_name

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

DEFAULT_PART_SIZE = 8 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's lower bound for every part but the last

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_CONFIG_CODES = frozenset(
    {"NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}
)


def translate(exc: Exception, action: str) -> DomainError:
    """Map a botocore failure to the error model without leaking request details."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "unknown"))
        if code in _NOT_FOUND_CODES:
            return not_found("blob")
        if code in _CONFIG_CODES:
            return DomainError(
                ErrorCode.CONFIGURATION,
                f"object storage refused the {action} request ({code})",
                s3_code=code,
            )
        return DomainError(
            ErrorCode.UNAVAILABLE, f"object storage {action} failed ({code})", s3_code=code
        )
    if isinstance(exc, EndpointConnectionError):
        return DomainError(ErrorCode.UNAVAILABLE, "object storage is unreachable")
    return DomainError(ErrorCode.UNAVAILABLE, f"object storage {action} failed")


def _raise(exc: Exception, action: str) -> NoReturn:
    raise translate(exc, action) from exc


class S3BlobStore:
    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        prefix: str = "",
        staging_dir: Path | str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        read_size: int = DEFAULT_READ_SIZE,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise DomainError(ErrorCode.CONFIGURATION, "S3 part size must be at least 5 MiB")
        self._client = client
        self.bucket = bucket
        self.prefix = prefix
        self._part_size = part_size
        self._read_size = read_size
        self._staging_dir = Path(staging_dir) if staging_dir is not None else None
        self._staging: LocalStaging | None = None

    def _key(self, name: str) -> str:
        return self.prefix + check_object_name(name)

    def write(self, name: str, pieces: Iterable[bytes]) -> int:
        key = self._key(name)
        parts = _parts(pieces, self._part_size)
        first = next(parts, b"")
        second = next(parts, None)
        if second is None:
            self._put(key, first)
            return len(first)
        return self._multipart(key, first, second, parts)

    def _put(self, key: str, body: bytes) -> None:
        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=body)
        except (BotoCoreError, ClientError) as exc:
            _raise(exc, "write")

    def _multipart(self, key: str, first: bytes, second: bytes, rest: Iterator[bytes]) -> int:
        try:
            upload_id = self._client.create_multipart_upload(Bucket=self.bucket, Key=key)[
                "UploadId"
            ]
        except (BotoCoreError, ClientError) as exc:
            _raise(exc, "write")
        try:
            completed: list[CompletedPartTypeDef] = []
            size = 0
            for number, body in enumerate(_chain(first, second, rest), start=1):
                response = self._client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                )
                completed.append({"ETag": response["ETag"], "PartNumber": number})
                size += len(body)
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": completed},
            )
            return size
        except BaseException as exc:
            # Abandoned parts cost money and hold ciphertext: abort on every failure path.
            with contextlib.suppress(BotoCoreError, ClientError):
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            if isinstance(exc, BotoCoreError | ClientError):
                _raise(exc, "write")
            raise

    def read(self, name: str) -> Iterator[bytes]:
        key = self._key(name)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            _raise(exc, "read")
        return self._stream(response["Body"])

    def _stream(self, body: StreamingBody) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(self._read_size)
        except (BotoCoreError, ClientError) as exc:
            _raise(exc, "read")
        finally:
            body.close()

    def exists(self, name: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(name))
        except ClientError as exc:
            translated = translate(exc, "stat")
            if translated.code is ErrorCode.NOT_FOUND:
                return False
            raise translated from exc
        except BotoCoreError as exc:
            _raise(exc, "stat")
        return True

    def delete(self, name: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(name))
        except (BotoCoreError, ClientError) as exc:
            _raise(exc, "delete")

    def list_names(self, suffix: str = "") -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.prefix) :]
                    if name.endswith(suffix):
                        yield name
        except (BotoCoreError, ClientError) as exc:
            _raise(exc, "list")

    @property
    def staging(self) -> StagingArea:
        if self._staging is None:
            if self._staging_dir is None:
                return _NO_STAGING
            self._staging = LocalStaging(self._staging_dir, publish=self._upload_staged)
        return self._staging

    def _upload_staged(self, path: Path, name: str) -> None:
        self.write(name, iter_file(path, self._read_size))
        os.unlink(path)


class _UnconfiguredStaging:
    """Stands in when no staging directory was given: resumable uploads are refused."""

    @staticmethod
    def _refuse() -> NoReturn:
        raise DomainError(
            ErrorCode.CONFIGURATION, "resumable uploads to S3 need a staging directory"
        )

    def create(self, upload_id: str, meta: bytes, initial_data: bytes) -> None:
        self._refuse()

    def read_meta(self, upload_id: str) -> bytes:
        self._refuse()

    def read_data(self, upload_id: str) -> Iterator[bytes]:
        self._refuse()

    def append(
        self, upload_id: str, data: bytes | bytearray | memoryview, *, sync: bool = True
    ) -> int:
        self._refuse()

    def sync(self, upload_id: str) -> None:
        self._refuse()

    def length(self, upload_id: str) -> int:
        self._refuse()

    def hold(self, upload_id: str) -> Callable[[], None]:
        self._refuse()

    def truncate(self, upload_id: str, length: int) -> None:
        self._refuse()

    def promote(self, upload_id: str, name: str, trailer: bytes) -> None:
        self._refuse()

    def discard(self, upload_id: str) -> None:
        self._refuse()

    def replace_meta(self, upload_id: str, meta: bytes) -> None:
        self._refuse()

    def upload_ids(self) -> list[str]:
        return []


_NO_STAGING = _UnconfiguredStaging()


def _parts(pieces: Iterable[bytes], part_size: int) -> Iterator[bytes]:
    """Regroup pieces into ``part_size`` bodies (the last may be shorter)."""
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        while len(buffer) >= part_size:
            yield bytes(buffer[:part_size])
            del buffer[:part_size]
    if buffer:
        yield bytes(buffer)


def _chain(first: bytes, second: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield second
    yield from rest
