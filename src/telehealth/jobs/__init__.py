"""Background jobs: periodic work (escalations, reminders, no-data alerts) run in-process.

Each job is a function of a :class:`Scope`, run in its own unit of work, so it commits and
audits like a request. Every server runs the job loop on a thread (``serve --no-jobs`` turns it
off; ``telehealth jobs run`` runs it apart from the servers), and however many loops run
against one database, each scheduled run of a job happens once:

- Time is cut into ticks of the job's interval, aligned to the epoch, so every instance agrees
  on them. The first instance to insert the row ``(job, tick)`` into ``job_runs`` (in a
  transaction of its own; the database's unique key decides) runs that tick; the others skip
  it.
- The row is a lease until ``lease_until`` (``TELEHEALTH_JOB_LEASE_SECONDS``). A run that dies
  with its process leaves its row unfinished; once the lease has expired, another instance
  takes it over (``attempt`` + 1) and runs the tick again.
- A run records its end (outcome, items handled) in the job's own transaction, and only while
  it still holds the latest attempt: a run whose lease was taken over meanwhile rolls its work
  back, so a tick's work commits once. A run that fails is recorded as failed and not retried
  within its tick; the next tick's run catches up (every job handles whatever is due by then).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session, sessionmaker

from telehealth.config import Settings
from telehealth.jobs import repository
from telehealth.logging import get_logger
from telehealth.ports import Ports
from telehealth.scope import Scope, open_scope

log = get_logger("telehealth.jobs")

JobFn = Callable[[Scope], int]
# A fixed interval, or one a setting chooses.
Interval = timedelta | Callable[[Settings], timedelta]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Job:
    name: str
    every: Interval
    run: JobFn  # returns how many items it handled, for the log

    def interval(self, settings: Settings) -> timedelta:
        return self.every if isinstance(self.every, timedelta) else self.every(settings)


_REGISTRY: dict[str, Job] = {}


def register(name: str, every: Interval) -> Callable[[JobFn], JobFn]:
    def decorate(fn: JobFn) -> JobFn:
        _REGISTRY[name] = Job(name, every, fn)
        return fn

    return decorate


def registered() -> list[Job]:
    return sorted(_REGISTRY.values(), key=lambda job: job.name)


def run_job(job: Job, sessions: sessionmaker[Session], ports: Ports) -> int:
    """Runs ``job`` once now, outside the schedule and its leases (``jobs run --once``)."""
    scope = open_scope(sessions, ports, request_id=f"job-{job.name}")
    try:
        handled = job.run(scope)
        scope.uow.commit()
    finally:
        scope.uow.close()
    return handled


def tick_of(now: datetime, interval: timedelta) -> datetime:
    """The start of the tick ``now`` falls in: ticks of ``interval`` counted from the epoch."""
    return EPOCH + ((now - EPOCH) // interval) * interval


def instance_name() -> str:
    """Names a job loop in the lease rows: host, process, and a suffix telling apart two loops
    of one process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:120]


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    # The lease passed to another instance before the run finished: its work was rolled back.
    LOST = "lost"


@dataclass(frozen=True)
class Ran:
    job: str
    tick: datetime
    attempt: int
    outcome: Outcome
    items: int | None


class JobRunner:
    """Runs every registered job (or ``jobs``) once per tick across every runner on the
    database: on a daemon thread (:meth:`start`), or in the calling thread (:meth:`run`), or
    one pass at a time (:meth:`run_due`)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        ports: Ports,
        tick: float = 5.0,
        *,
        jobs: Sequence[Job] | None = None,
        instance: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._ports = ports
        self._tick = tick
        self._jobs = jobs
        self.instance = instance or instance_name()
        # The latest tick of each job known to be done (run here, or finished elsewhere).
        self._done: dict[str, datetime] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="telehealth-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def run(self) -> None:
        """Runs the jobs' due ticks in the calling thread until :meth:`stop`."""
        while not self._stop.wait(self._tick):
            try:
                self.run_due()
            except Exception:
                # The database may be away for a while; the loop goes on, and the leases keep
                # the ticks once-only when it comes back.
                log.exception("job_loop_failed")

    def run_due(self) -> list[Ran]:
        """One pass: runs each job's current tick if no runner has it yet, or if its runner
        abandoned it; returns what ran here."""
        ran: list[Ran] = []
        jobs = self._jobs if self._jobs is not None else registered()
        for job in jobs:
            now = self._ports.clock.now()
            tick = tick_of(now, job.interval(self._ports.settings))
            if self._done.get(job.name) == tick:
                continue
            attempt = self._claim(job.name, tick, now)
            if attempt is None:
                continue
            self._done[job.name] = tick
            ran.append(self._run(job, tick, attempt))
        return ran

    def _claim(self, job: str, tick: datetime, now: datetime) -> int | None:
        """The attempt this runner now holds for ``(job, tick)``, or None."""
        until = now + timedelta(seconds=self._ports.settings.job_lease_seconds)
        with self._sessions() as session, session.begin():
            if repository.insert_lease(session, job, tick, self.instance, now, until):
                return 1
            attempt = repository.take_over_expired(session, job, tick, self.instance, now, until)
            if attempt is None and repository.is_finished(session, job, tick):
                self._done[job] = tick
            elif attempt is not None:
                log.warning("job_lease_taken_over", job=job, attempt=attempt)
            return attempt

    def _run(self, job: Job, tick: datetime, attempt: int) -> Ran:
        metrics = self._ports.metrics
        started = time.perf_counter()
        scope = open_scope(self._sessions, self._ports, request_id=f"job-{job.name}")
        outcome, handled = Outcome.OK, None
        try:
            handled = job.run(scope)
            finished = repository.finish(
                scope.session,
                job.name,
                tick,
                attempt,
                now=self._ports.clock.now(),
                outcome=Outcome.OK.value,
                items=handled,
            )
            if finished:
                scope.uow.commit()
            else:
                scope.uow.rollback()
                outcome = Outcome.LOST
                log.warning("job_lease_lost", job=job.name, attempt=attempt)
        except Exception:
            scope.uow.rollback()
            outcome = Outcome.FAILED
            log.exception("job_failed", job=job.name)
            self._record_failure(job.name, tick, attempt)
        finally:
            scope.uow.close()
        metrics.job_runs.labels(job.name, outcome.value).inc()
        metrics.job_seconds.labels(job.name).observe(time.perf_counter() - started)
        if handled:
            log.info("job_ran", job=job.name, handled=handled)
        return Ran(job.name, tick, attempt, outcome, handled)

    def _record_failure(self, job: str, tick: datetime, attempt: int) -> None:
        try:
            with self._sessions() as session, session.begin():
                repository.finish(
                    session,
                    job,
                    tick,
                    attempt,
                    now=self._ports.clock.now(),
                    outcome=Outcome.FAILED.value,
                    items=None,
                )
        except Exception:
            # Unrecorded, the lease expires and another instance runs the tick again.
            log.exception("job_failure_unrecorded", job=job)
