"""Each background job runs once per scheduled tick across the three instances, which all run
the job loop: counted in ``job_runs``, the lease table of the job runner."""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter
from datetime import datetime

import pytest
from sqlalchemy import create_engine, inspect, text

from telehealth.config import Settings

SECONDS = float(os.environ.get("TELEHEALTH_CLUSTER_JOBS_SECONDS", "75"))


def test_each_job_runs_once_per_tick_across_the_cluster(cluster_settings: Settings) -> None:
    engine = create_engine(cluster_settings.effective_database_url)
    try:
        if not inspect(engine).has_table("job_runs"):
            pytest.skip("job leases (job_runs) are not in this build yet")
        with engine.connect() as connection:
            since = connection.execute(text("SELECT now()")).scalar_one()
        time.sleep(SECONDS)
        with engine.connect() as connection:
            # Ticks begun in the window, but not in its last seconds (a run may be under way).
            rows = connection.execute(
                text(
                    "SELECT job, tick, instance, attempt, outcome FROM job_runs"
                    " WHERE tick >= :since AND tick < now() - interval '5 seconds'"
                    " ORDER BY job, tick"
                ),
                {"since": since},
            ).all()
    finally:
        engine.dispose()

    runs = Counter((job, tick) for job, tick, *_ in rows)
    assert runs
    assert set(runs.values()) == {1}, [key for key, n in runs.items() if n > 1]
    assert all(outcome == "ok" and attempt == 1 for *_, attempt, outcome in rows), rows
    ticks: dict[str, list[datetime]] = {}
    for job, tick, *_ in rows:
        ticks.setdefault(job, []).append(tick)
    # No tick was skipped: a job's runs are one interval apart (the interval is the smallest
    # gap, since the window holds two or more ticks of the jobs counted here).
    for job, seen in ticks.items():
        gaps = {later - earlier for earlier, later in itertools.pairwise(seen)}
        assert len(gaps) <= 1, (job, sorted(gaps))
    # The jobs that tick within the window were all seen (checkpoints every 10 s here).
    assert {"audit.checkpoint", "notifications.send_emails"} <= set(ticks), sorted(ticks)
    assert len(ticks["audit.checkpoint"]) >= int(SECONDS // 10) - 1
    # More than one instance ran ticks: the lease, not one designated instance, decides.
    assert len({instance for _, _, instance, *_ in rows}) > 1, rows
