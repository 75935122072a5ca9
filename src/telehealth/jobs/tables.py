"""One row per scheduled run of a background job: the lease that makes each tick run once
across every instance, and what the run did."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from telehealth.db.base import Base, UTCDateTime, new_id


class JobRun(Base):
    """``(job, tick)`` is unique: the instance whose row the database accepts runs that tick.
    A row not finished by ``lease_until`` was abandoned (its process died); another instance
    takes it over, raising ``attempt``, and only the holder of the latest attempt may finish
    it."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "tick"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id)
    job: Mapped[str] = mapped_column(String(80))
    # The start of the scheduled interval this run belongs to (aligned to the epoch).
    tick: Mapped[datetime] = mapped_column(UTCDateTime())
    # Which process holds (or held) the lease: host, process id and a random suffix.
    instance: Mapped[str] = mapped_column(String(120))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # "ok" or "failed"; None while running (or abandoned).
    outcome: Mapped[str | None] = mapped_column(String(16))
    # How many items the run handled.
    items: Mapped[int | None] = mapped_column(Integer)
