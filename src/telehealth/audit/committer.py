"""Group commit of audit events: many requests' rows in one durable transaction.

A request that changed nothing still owes its audit rows a durable commit before it answers.
Committing each one alone costs a lock on a chain head and a flush to disk per request; the
committer instead gathers the events of every request waiting at that moment, appends them
to one chain in one transaction, and then releases all of those requests at once. A request
is answered only after its batch has committed; if the batch fails, so does the request.

A batch that fails is retried one submission at a time, so one bad submission does not fail
the others that shared its batch.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from telehealth.audit import repository
from telehealth.audit.model import CHAINS, AuditEvent
from telehealth.errors import DomainError, ErrorCode
from telehealth.logging import get_logger

log = get_logger("telehealth.audit")

MAX_BATCH = 1024


@dataclass
class _Submission:
    events: Sequence[AuditEvent]
    done: Future[None] = field(default_factory=Future)


class AuditCommitter:
    """A writer thread that appends submitted events in batches, one transaction per batch."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pending: list[_Submission] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        # Processes share the chains; starting at a random one spreads their batches out.
        self._next_chain = random.randrange(CHAINS)  # noqa: S311 - load spreading, not security

    def submit(self, events: Sequence[AuditEvent]) -> Future[None]:
        """Queues events; the future completes once they are committed."""
        submission = _Submission(list(events))
        if not submission.events:
            submission.done.set_result(None)
            return submission.done
        with self._wake:
            if self._closed:
                raise RuntimeError("the audit committer is closed")
            self._pending.append(submission)
            self._ensure_thread()
            self._wake.notify()
        return submission.done

    async def append(self, events: Sequence[AuditEvent]) -> None:
        """Appends events and returns once they are durable."""
        await asyncio.wrap_future(self.submit(events))

    def close(self) -> None:
        """Commits what is queued, then stops the writer thread."""
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-committer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if not self._pending:
                    return
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
            self._commit_batch(batch)

    def _commit_batch(self, batch: list[_Submission]) -> None:
        try:
            self._write([event for submission in batch for event in submission.events])
        except Exception:
            if len(batch) == 1:
                log.exception("audit_commit_failed", events=len(batch[0].events))
                batch[0].done.set_exception(
                    DomainError(ErrorCode.UNAVAILABLE, "the audit log is unavailable; try again")
                )
                return
            for submission in batch:
                self._commit_batch([submission])
            return
        for submission in batch:
            submission.done.set_result(None)

    def _write(self, events: list[AuditEvent]) -> None:
        chain_id = self._next_chain
        self._next_chain = (chain_id + 1) % CHAINS
        events.sort(key=lambda event: event.at)
        with Session(self._engine) as session, session.begin():
            repository.append(session, chain_id, events)
