"""Background jobs: periodic work (escalations, reminders, no-data alerts) run in-process.

Each job is a function of a :class:`Scope`, run in its own unit of work, so it commits and
audits like a request. The embedded mode runs them on a thread inside the server; a deployment
with several instances runs ``telehealth jobs run`` in one place instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from telehealth.config import Settings
from telehealth.logging import get_logger
from telehealth.ports import Ports
from telehealth.scope import Scope, open_scope

log = get_logger("telehealth.jobs")

JobFn = Callable[[Scope], int]
# A fixed interval, or one a setting chooses.
Interval = timedelta | Callable[[Settings], timedelta]


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
    scope = open_scope(sessions, ports, request_id=f"job-{job.name}")
    try:
        handled = job.run(scope)
        scope.uow.commit()
    finally:
        scope.uow.close()
    return handled


class JobRunner:
    """Runs every registered job on its interval on one daemon thread until stopped."""

    def __init__(self, sessions: sessionmaker[Session], ports: Ports, tick: float = 5.0) -> None:
        self._sessions = sessions
        self._ports = ports
        self._tick = tick
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
        """Runs the jobs on their intervals in the calling thread until :meth:`stop`."""
        last_run: dict[str, float] = {}
        while not self._stop.wait(self._tick):
            now = self._ports.clock.now().timestamp()
            for job in registered():
                due = job.interval(self._ports.settings).total_seconds()
                if now - last_run.get(job.name, 0.0) < due:
                    continue
                last_run[job.name] = now
                try:
                    handled = run_job(job, self._sessions, self._ports)
                    if handled:
                        log.info("job_ran", job=job.name, handled=handled)
                except Exception:
                    log.exception("job_failed", job=job.name)
