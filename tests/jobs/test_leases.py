"""Background jobs run once per scheduled tick however many runners share the database, and a
run that died with its process is run again once its lease expires (telehealth.jobs)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.jobs import Job, JobRunner, Outcome, registered, repository, tick_of
from telehealth.ports import Ports
from telehealth.scope import Scope
from tests.support import memory_ports

pytestmark = pytest.mark.db

EVERY_MINUTE = timedelta(minutes=1)
HOURLY = timedelta(hours=1)


class Died(BaseException):
    """The process running a job was killed: nothing after this line of the job runs."""


class Counted:
    """A job that counts its runs, thread-safely."""

    def __init__(self) -> None:
        self.runs = 0
        self._lock = threading.Lock()

    def __call__(self, scope: Scope) -> int:
        with self._lock:
            self.runs += 1
        return 1


@pytest.fixture
def engines(settings: Settings) -> Iterator[list[Engine]]:
    """Two instances' own engines on the one database."""
    made = [make_engine(settings.effective_database_url) for _ in range(2)]
    yield made
    for engine in made:
        engine.dispose()


@pytest.fixture
def job_ports(settings: Settings, clock: FrozenClock) -> Ports:
    return memory_ports(settings, clock)


def runners(engines: list[Engine], ports: Ports, jobs: list[Job] | None) -> list[JobRunner]:
    return [
        JobRunner(make_sessionmaker(engine), ports, jobs=jobs, instance=f"instance-{n}")
        for n, engine in enumerate(engines)
    ]


def race(pair: list[JobRunner]) -> None:
    """Both runners make one pass at the same moment."""
    start = threading.Barrier(len(pair))
    failures: list[BaseException] = []

    def one(runner: JobRunner) -> None:
        start.wait()
        try:
            runner.run_due()
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(runner,)) for runner in pair]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def runs(sessions: sessionmaker[Session], job: str) -> list[tuple[datetime, int, str | None]]:
    with sessions() as session:
        return [(r.tick, r.attempt, r.outcome) for r in repository.runs_of(session, job)]


def test_two_runners_run_each_tick_of_each_job_once(
    engines: list[Engine], job_ports: Ports, clock: FrozenClock
) -> None:
    minutely, hourly = Counted(), Counted()
    jobs = [Job("test.minutely", EVERY_MINUTE, minutely), Job("test.hourly", HOURLY, hourly)]
    pair = runners(engines, job_ports, jobs)
    seen: list[datetime] = []
    for _ in range(12):
        seen.append(clock.now())
        race(pair)
        race(pair)  # a second pass in the same tick runs nothing
        clock.advance(timedelta(seconds=30))
    minute_ticks = sorted({tick_of(t, EVERY_MINUTE) for t in seen})
    hour_ticks = sorted({tick_of(t, HOURLY) for t in seen})
    assert minutely.runs == len(minute_ticks)
    assert hourly.runs == len(hour_ticks)
    sessions = make_sessionmaker(engines[0])
    assert runs(sessions, "test.minutely") == [(t, 1, "ok") for t in minute_ticks]
    assert runs(sessions, "test.hourly") == [(t, 1, "ok") for t in hour_ticks]
    counted = job_ports.metrics.registry.get_sample_value(
        "telehealth_job_runs_total", {"job": "test.minutely", "outcome": "ok"}
    )
    assert counted == len(minute_ticks)


def test_the_registered_jobs_run_once_per_tick_across_two_runners(
    engines: list[Engine], job_ports: Ports, clock: FrozenClock
) -> None:
    pair = runners(engines, job_ports, None)
    seen: list[datetime] = []
    for _ in range(4):
        seen.append(clock.now())
        race(pair)
        clock.advance(timedelta(minutes=2))
    sessions = make_sessionmaker(engines[0])
    for job in registered():
        ticks = sorted({tick_of(t, job.interval(job_ports.settings)) for t in seen})
        assert runs(sessions, job.name) == [(t, 1, "ok") for t in ticks], job.name


def test_an_abandoned_run_is_taken_over_once_its_lease_expires_and_not_before(
    engines: list[Engine], job_ports: Ports, clock: FrozenClock
) -> None:
    lease = timedelta(seconds=job_ports.settings.job_lease_seconds)
    assert lease < HOURLY  # the takeover happens within the tick
    # The hour's tick begins now, so the whole lease fits in it.
    clock.set(tick_of(clock.now(), HOURLY) + HOURLY)
    survivor = Counted()

    def dies(scope: Scope) -> int:
        raise Died

    first = JobRunner(
        make_sessionmaker(engines[0]), job_ports, jobs=[Job("test.job", HOURLY, dies)]
    )
    second = JobRunner(
        make_sessionmaker(engines[1]), job_ports, jobs=[Job("test.job", HOURLY, survivor)]
    )
    with pytest.raises(Died):
        first.run_due()
    sessions = make_sessionmaker(engines[1])
    tick = tick_of(clock.now(), HOURLY)
    assert runs(sessions, "test.job") == [(tick, 1, None)]

    assert second.run_due() == []
    clock.advance(lease - timedelta(seconds=1))
    assert second.run_due() == []
    assert survivor.runs == 0

    clock.advance(timedelta(seconds=1))
    [ran] = second.run_due()
    assert (ran.attempt, ran.outcome, survivor.runs) == (2, Outcome.OK, 1)
    assert runs(sessions, "test.job") == [(tick, 2, "ok")]
    # Run again, nothing more happens in the tick.
    clock.advance(lease)
    assert second.run_due() == []
    assert survivor.runs == 1


def test_a_run_whose_lease_was_taken_over_meanwhile_keeps_none_of_its_work(
    engines: list[Engine], job_ports: Ports, clock: FrozenClock
) -> None:
    clock.set(tick_of(clock.now(), HOURLY) + HOURLY)
    lease = timedelta(seconds=job_ports.settings.job_lease_seconds)
    sessions = make_sessionmaker(engines[1])
    other = JobRunner(sessions, job_ports, jobs=[Job("test.job", HOURLY, Counted())])

    def slow(scope: Scope) -> int:
        # Stalled past its lease: the other instance takes the tick over and finishes it.
        clock.advance(lease)
        [taken] = other.run_due()
        assert (taken.attempt, taken.outcome) == (2, Outcome.OK)
        return 5

    stalled = JobRunner(
        make_sessionmaker(engines[0]), job_ports, jobs=[Job("test.job", HOURLY, slow)]
    )
    [ran] = stalled.run_due()
    assert (ran.attempt, ran.outcome) == (1, Outcome.LOST)
    tick = tick_of(clock.now(), HOURLY)
    assert runs(sessions, "test.job") == [(tick, 2, "ok")]


def test_a_failed_run_is_recorded_and_the_next_tick_runs_again(
    engines: list[Engine], job_ports: Ports, clock: FrozenClock
) -> None:
    calls: list[datetime] = []

    def fails(scope: Scope) -> int:
        calls.append(clock.now())
        raise RuntimeError("the mail server is away")

    runner = JobRunner(
        make_sessionmaker(engines[0]), job_ports, jobs=[Job("test.job", EVERY_MINUTE, fails)]
    )
    [ran] = runner.run_due()
    assert ran.outcome is Outcome.FAILED
    assert runner.run_due() == []
    other = JobRunner(
        make_sessionmaker(engines[1]), job_ports, jobs=[Job("test.job", EVERY_MINUTE, fails)]
    )
    assert other.run_due() == []  # finished, as failed: not retried within the tick
    clock.advance(EVERY_MINUTE)
    [again] = other.run_due()
    assert again.outcome is Outcome.FAILED
    assert len(calls) == 2
    sessions = make_sessionmaker(engines[0])
    assert [outcome for _, _, outcome in runs(sessions, "test.job")] == ["failed", "failed"]
    assert (
        job_ports.metrics.registry.get_sample_value(
            "telehealth_job_runs_total", {"job": "test.job", "outcome": "failed"}
        )
        == 2
    )


def test_runs_older_than_the_kept_days_are_pruned(
    engines: list[Engine], job_ports: Ports, clock: FrozenClock
) -> None:
    runner = JobRunner(
        make_sessionmaker(engines[0]), job_ports, jobs=[Job("test.job", HOURLY, Counted())]
    )
    keep = timedelta(days=job_ports.settings.job_runs_keep_days)
    first = tick_of(clock.now(), HOURLY)
    runner.run_due()
    clock.advance(keep)
    runner.run_due()
    clock.advance(HOURLY)
    runner.run_due()
    pruner = JobRunner(
        make_sessionmaker(engines[1]),
        job_ports,
        jobs=[j for j in registered() if j.name == "jobs.prune_runs"],
    )
    [pruned] = pruner.run_due()
    assert (pruned.outcome, pruned.items) == (Outcome.OK, 1)
    ticks = [tick for tick, _, _ in runs(make_sessionmaker(engines[0]), "test.job")]
    assert first not in ticks
    assert len(ticks) == 2
