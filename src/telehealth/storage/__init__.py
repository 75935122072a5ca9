"""Encrypted blob storage: envelope encryption over pluggable object stores.

``EncryptedBlobs`` is the entry point; ``LocalBlobStore`` (default), ``S3BlobStore`` and
``MemoryBlobStore`` implement the ``BlobStore`` port. See docs/storage-format.md.
"""

from telehealth.storage.keyring import Kek, Keyring
from telehealth.storage.local import LocalBlobStore
from telehealth.storage.memory import MemoryBlobStore
from telehealth.storage.ports import (
    BlobStore,
    StagingArea,
    check_blob_id,
    check_upload_id,
    new_blob_id,
    new_upload_id,
)
from telehealth.storage.service import (
    EncryptedBlobs,
    ResumableBlobWriter,
    RotationReport,
    StoredBlob,
    rotate_keys,
)

__all__ = [
    "BlobStore",
    "EncryptedBlobs",
    "Kek",
    "Keyring",
    "LocalBlobStore",
    "MemoryBlobStore",
    "ResumableBlobWriter",
    "RotationReport",
    "StagingArea",
    "StoredBlob",
    "check_blob_id",
    "check_upload_id",
    "new_blob_id",
    "new_upload_id",
    "rotate_keys",
]
