"""The review capability's blob storage and the registry of open resumable writers.

One :class:`ReviewStorage` per process (a port, see ``telehealth.ports``), shared by requests
and background jobs. Open writers are cached so each PATCH appends without replaying the staged
bytes; after a restart the first request for an upload resumes its writer from the staging area.
Instances behind a load balancer share one staging area (docs/deploy.md), so a PATCH may have
landed on another instance since this one cached its writer: a cached writer whose staged
length is not the staging area's is stale and resumed again (one stat per request). A lease
also holds the upload's lock in the staging area, so that no other instance resumes (and cuts
what looks like a torn tail) or appends while this one is appending.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from telehealth.config import ReviewSettings, Settings
from telehealth.errors import DomainError, ErrorCode
from telehealth.storage import BlobStore, EncryptedBlobs, Keyring, ResumableBlobWriter
from telehealth.storage.configured import configured_store


@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    writer: ResumableBlobWriter | None = None


class Lease:
    """A writer held by one request, and the upload's hold across processes."""

    def __init__(
        self, slot: _Slot, writer: ResumableBlobWriter, let_go: Callable[[], None]
    ) -> None:
        self._slot = slot
        self.writer = writer
        self._let_go = let_go

    def release(self, *, healthy: bool = True) -> None:
        if not healthy:
            # A failed append leaves the writer needing a resume; rebuild it next time.
            self._slot.writer = None
        try:
            self._let_go()
        finally:
            self._slot.lock.release()


class ReviewStorage:
    def __init__(self, blobs: EncryptedBlobs, settings: ReviewSettings) -> None:
        self.blobs = blobs
        self.settings = settings
        self._slots: dict[str, _Slot] = {}
        self._guard = threading.Lock()

    def _slot(self, upload_id: str) -> _Slot:
        with self._guard:
            return self._slots.setdefault(upload_id, _Slot())

    def acquire(self, upload_id: str) -> Lease:
        """Exclusive use of an upload's writer until the lease is released; a concurrent
        request for the same upload, here or in another instance sharing the staging area,
        gets CONFLICT instead of waiting."""
        slot = self._slot(upload_id)
        if not slot.lock.acquire(blocking=False):
            raise DomainError(ErrorCode.CONFLICT, "the upload is busy with another request")
        let_go: Callable[[], None] | None = None
        try:
            let_go = self.blobs.store.staging.hold(upload_id)
            if slot.writer is None or not self._current(upload_id, slot.writer):
                slot.writer = self.blobs.resume_writer(upload_id)
        except BaseException:
            if let_go is not None:
                let_go()
            slot.lock.release()
            raise
        return Lease(slot, slot.writer, let_go)

    def _current(self, upload_id: str, writer: ResumableBlobWriter) -> bool:
        """Whether ``writer`` has seen every byte staged for the upload (no other instance
        appended, finished or discarded it since)."""
        if writer.finalized:
            return True
        try:
            return self.blobs.store.staging.length(upload_id) == writer.staged
        except DomainError as exc:
            if exc.code is ErrorCode.NOT_FOUND:
                return False
            raise

    def offset(self, upload_id: str) -> int:
        """The staged offset, read without waiting for a PATCH in progress here (bytes of a
        PATCH not yet acknowledged may not be fsynced yet)."""
        slot = self._slot(upload_id)
        writer = slot.writer
        if writer is not None and (slot.lock.locked() or self._current(upload_id, writer)):
            return writer.offset
        lease = self.acquire(upload_id)
        try:
            return lease.writer.offset
        finally:
            lease.release()

    def start(self, upload_id: str, content_type: str) -> ResumableBlobWriter:
        writer = self.blobs.new_writer(upload_id, content_type=content_type)
        self._slot(upload_id).writer = writer
        return writer

    def forget(self, upload_id: str) -> None:
        with self._guard:
            self._slots.pop(upload_id, None)


def review_storage_for(settings: Settings, store: BlobStore | None = None) -> ReviewStorage:
    """The storage of one process (built by ``telehealth.bootstrap``; requests and jobs share
    it): ``store``, or the one the settings choose, encrypted under the configured keys."""
    keyring = Keyring.from_config(settings.storage_keks.get_secret_value())
    blobs = EncryptedBlobs(store or configured_store(settings), keyring)
    return ReviewStorage(blobs, settings.review)
