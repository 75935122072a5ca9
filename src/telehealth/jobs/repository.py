"""The queries of the job leases (``job_runs``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, case, delete, func, select, update
from sqlalchemy.orm import Session

from telehealth.db.base import insert_ignoring_duplicates, new_id, table_of
from telehealth.jobs.tables import JobRun


def insert_lease(
    session: Session, job: str, tick: datetime, instance: str, now: datetime, until: datetime
) -> bool:
    """Takes the tick's first lease; False if a row for ``(job, tick)`` exists already."""
    statement = insert_ignoring_duplicates(session, JobRun, ["job", "tick"]).values(
        id=new_id(),
        job=job,
        tick=tick,
        instance=instance,
        attempt=1,
        started_at=now,
        lease_until=until,
    )
    # RETURNING rather than the row count, which psycopg does not report for this statement.
    taken = session.execute(statement.returning(table_of(JobRun).c.id)).scalar_one_or_none()
    return taken is not None


def take_over_expired(
    session: Session, job: str, tick: datetime, instance: str, now: datetime, until: datetime
) -> int | None:
    """Takes over the tick's lease if its holder let it expire unfinished; the new attempt's
    number, or None if the lease is held or the run finished."""
    table = table_of(JobRun)
    attempt = session.execute(
        update(table)
        .where(
            table.c.job == job,
            table.c.tick == tick,
            table.c.finished_at.is_(None),
            table.c.lease_until <= now,
        )
        .values(
            instance=instance,
            attempt=table.c.attempt + 1,
            started_at=now,
            lease_until=until,
        )
        .returning(table.c.attempt)
    ).scalar_one_or_none()
    return None if attempt is None else int(attempt)


def is_finished(session: Session, job: str, tick: datetime) -> bool:
    table = table_of(JobRun)
    finished = session.execute(
        select(table.c.finished_at).where(table.c.job == job, table.c.tick == tick)
    ).scalar_one_or_none()
    return finished is not None


def finish(
    session: Session,
    job: str,
    tick: datetime,
    attempt: int,
    *,
    now: datetime,
    outcome: str,
    items: int | None,
) -> bool:
    """Records the run's end; False if the lease passed to a later attempt meanwhile (the run
    must then not count: its caller rolls its work back)."""
    table = table_of(JobRun)
    done = session.execute(
        update(table)
        .where(
            table.c.job == job,
            table.c.tick == tick,
            table.c.attempt == attempt,
            table.c.finished_at.is_(None),
        )
        .values(finished_at=now, outcome=outcome, items=items)
        .returning(table.c.id)
    ).scalar_one_or_none()
    return done is not None


def delete_before(session: Session, moment: datetime) -> int:
    """Deletes the runs of ticks before ``moment``; how many."""
    table = table_of(JobRun)
    deleted = session.execute(delete(table).where(table.c.tick < moment).returning(table.c.id))
    return len(deleted.all())


def runs_of(session: Session, job: str) -> list[JobRun]:
    """A job's runs, oldest tick first (operators and tests count them)."""
    return list(session.scalars(select(JobRun).where(JobRun.job == job).order_by(JobRun.tick)))


def summary(session: Session) -> list[tuple[str, int, int, int, int, datetime | None]]:
    """Per job: ticks that ran, of them finished ok, failed, taken over (attempt > 1), and
    the latest tick."""
    table = table_of(JobRun)

    def counted(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.sum(case((condition, 1), else_=0))

    rows = session.execute(
        select(
            table.c.job,
            func.count(),
            counted(table.c.outcome == "ok"),
            counted(table.c.outcome == "failed"),
            counted(table.c.attempt > 1),
            func.max(table.c.tick),
        )
        .group_by(table.c.job)
        .order_by(table.c.job)
    ).all()
    return [
        (job, int(runs), int(ok or 0), int(failed or 0), int(taken or 0), latest)
        for job, runs, ok, failed, taken, latest in rows
    ]
