"""Group commit of audit events: many requests' rows in one durable transaction.

A request that changed nothing still owes its audit rows a durable commit before it answers.
Committing each one alone costs a lock on a chain head and a flush to disk per request; a
committer instead gathers the events of every request waiting at that moment, appends them
to one chain in one transaction, and then releases all of those requests at once. A request
is answered only after its batch has committed; if the batch fails, so does the request.

A batch that fails is retried one submission at a time, so one bad submission does not fail
the others that shared its batch.

Each committer extends one chain, picked at random, so that several server processes rarely
share one. On PostgreSQL the batch is written from the event loop in a single statement that
also moves the chain's head (see :func:`repository.append_if_head`); on SQLite a writer thread
appends it in an ordinary transaction.

On SQLite only the fast lanes, which run outside any transaction, use the committer: a
request's transaction there already holds the database's one write lock (every transaction
begins ``IMMEDIATE``), so appending its events in place costs one durable commit, where a
group commit would take the same lock again for a second one after two thread hops.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, Table, insert

from telehealth.audit import repository
from telehealth.audit.model import CHAINS, AuditEvent, ChainKey, chain
from telehealth.db.batch import LoopBatcher
from telehealth.db.reader import AsyncPostgres, FastReader
from telehealth.errors import DomainError, ErrorCode
from telehealth.logging import get_logger
from telehealth.metrics import Metrics

log = get_logger("telehealth.audit")

MAX_BATCH = 1024


@dataclass(frozen=True)
class Insert:
    """A row written in the same transaction as the audit events that describe it."""

    table: Table
    values: Mapping[str, Any]


class AuditCommitter(Protocol):
    # Whether a request's transaction that wrote nothing should hand its events over rather
    # than append them itself.
    groups_requests: bool

    async def append(self, events: Sequence[AuditEvent], inserts: Sequence[Insert] = ()) -> None:
        """Appends events (and writes ``inserts`` in the same transaction); returns once they
        are durable, raises if they could not be made so."""
        ...

    async def close(self) -> None:
        """Commits what is queued, then stops."""
        ...


def make_committer(
    engine: Engine, reader: FastReader, key: ChainKey, metrics: Metrics | None = None
) -> AuditCommitter:
    """The committer for the database behind ``reader``, hashing rows with the audit ``key``;
    each batch's size and commit time go to ``metrics``."""
    metrics = metrics or Metrics()
    if isinstance(reader, AsyncPostgres):
        return PostgresCommitter(reader, key, metrics)
    return ThreadCommitter(engine, key, metrics)


def _random_chain() -> int:
    return random.randrange(CHAINS)  # noqa: S311 - spreads load, not a secret


def _unavailable() -> DomainError:
    return DomainError(ErrorCode.UNAVAILABLE, "the audit log is unavailable; try again")


class PostgresCommitter:
    """Batches on the event loop: while one batch is being written, the next one gathers."""

    groups_requests = True

    def __init__(self, db: AsyncPostgres, key: ChainKey, metrics: Metrics) -> None:
        self._db = db
        self._key = key
        self._metrics = metrics
        self._chain = _random_chain()
        self._head: tuple[int, str] | None = None
        self._batches: LoopBatcher[_Submission, None] = LoopBatcher(
            self._commit, max_batch=MAX_BATCH
        )

    async def append(self, events: Sequence[AuditEvent], inserts: Sequence[Insert] = ()) -> None:
        if events:
            await self._batches.submit(_Submission(list(events), list(inserts)))

    async def close(self) -> None:
        await self._batches.close()

    async def _commit(self, batch: list[_Submission]) -> list[Exception | None]:
        """Writes the batch; if that fails, each submission alone, so that one bad submission
        fails only its own request."""
        events = _events_in_order(e for s in batch for e in s.events)
        started = time.perf_counter()
        try:
            await self._write(events, [row for s in batch for row in s.inserts])
        except Exception:
            if len(batch) == 1:
                log.exception("audit_commit_failed", events=len(batch[0].events))
                return [_unavailable()]
            return [outcome for submission in batch for outcome in await self._commit([submission])]
        self._metrics.observe_audit_commit(len(events), time.perf_counter() - started)
        return [None] * len(batch)

    async def _write(self, events: list[AuditEvent], inserts: list[Insert]) -> None:
        """Chains the batch on the remembered head and writes it, with the rows it carries, in
        one statement; if another process moved the head meanwhile, reads the head again and
        retries."""
        carried = _by_table(inserts)
        while True:
            if self._head is None:
                self._head = await self._read_head()
            seq, prev_hash = self._head
            records = chain(self._chain, seq, prev_hash, events, self._key)
            statement, params = repository.append_if_head_statement(self._chain, records, carried)
            if await self._db.execute(statement, params) == len(records):
                self._head = (records[-1].seq, records[-1].hash)
                return
            self._head = None

    async def _read_head(self) -> tuple[int, str]:
        row = await self._db.one(repository.HEAD_OF, {"chain": self._chain})
        return repository.head_from(row)


@dataclass(frozen=True)
class _Submission:
    events: list[AuditEvent]
    inserts: list[Insert]


def _by_table(inserts: Sequence[Insert]) -> dict[Table, list[Mapping[str, Any]]]:
    grouped: dict[Table, list[Mapping[str, Any]]] = {}
    for row in inserts:
        grouped.setdefault(row.table, []).append(row.values)
    return grouped


def _events_in_order(events: Iterable[AuditEvent]) -> list[AuditEvent]:
    return sorted(events, key=lambda event: event.at)


class ThreadCommitter:
    """A writer thread: SQLite writes (and their fsync) block, so they stay off the loop."""

    groups_requests = False

    def __init__(self, engine: Engine, key: ChainKey, metrics: Metrics) -> None:
        self._engine = engine
        self._key = key
        self._metrics = metrics
        self._chain = _random_chain()
        self._pending: list[tuple[list[AuditEvent], list[Insert], Future[None]]] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    async def append(self, events: Sequence[AuditEvent], inserts: Sequence[Insert] = ()) -> None:
        if events:
            await asyncio.wrap_future(self._submit(events, inserts))

    def _submit(self, events: Sequence[AuditEvent], inserts: Sequence[Insert]) -> Future[None]:
        done: Future[None] = Future()
        with self._wake:
            if self._closed:
                raise RuntimeError("the audit committer is closed")
            self._pending.append((list(events), list(inserts), done))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="audit-committer", daemon=True
                )
                self._thread.start()
            self._wake.notify()
        return done

    async def close(self) -> None:
        await asyncio.to_thread(self.stop)

    def stop(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if not self._pending:
                    return
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
            self._commit(batch)

    def _commit(self, batch: list[tuple[list[AuditEvent], list[Insert], Future[None]]]) -> None:
        events = _events_in_order(e for events, _, _ in batch for e in events)
        inserts = [row for _, rows, _ in batch for row in rows]
        started = time.perf_counter()
        try:
            with self._engine.begin() as connection:
                for table, rows in _by_table(inserts).items():
                    connection.execute(insert(table), rows)
                repository.append(connection, self._chain, events, self._key)
        except Exception:
            if len(batch) == 1:
                log.exception("audit_commit_failed", events=len(events))
                batch[0][2].set_exception(_unavailable())
                return
            for submission in batch:
                self._commit([submission])
            return
        self._metrics.observe_audit_commit(len(events), time.perf_counter() - started)
        for _, _, done in batch:
            done.set_result(None)
