"""Each background job runs once per scheduled tick across the three instances, which all run
the job loop: counted in ``job_runs``, the lease table of the job runner. Half-way, the
instance running the ticks is killed -9; the others go on with the next ticks."""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, create_engine, text

from telehealth.config import Settings
from tests.cluster import topology

SECONDS = float(os.environ.get("TELEHEALTH_CLUSTER_JOBS_SECONDS", "80"))
CHECKPOINT_SECONDS = 10  # TELEHEALTH_AUDIT_CHECKPOINT_SECONDS of the cluster (topology.py)


def _runs(engine: Engine, since: datetime) -> list[Any]:
    with engine.connect() as connection:
        # Ticks begun since ``since``, but not in the last seconds (a run may be under way).
        return list(
            connection.execute(
                text(
                    "SELECT job, tick, instance, attempt, outcome FROM job_runs"
                    " WHERE tick >= :since AND tick < now() - interval '5 seconds'"
                    " ORDER BY job, tick"
                ),
                {"since": since},
            ).all()
        )


def _instance_named(process: str) -> str:
    """The instance (a, b, c) whose process ran a job (``host:pid:suffix``)."""
    pid = int(process.split(":")[1])
    for name in topology.INSTANCES:
        if topology.read_pid(f"instance-{name}") == pid:
            return name
    raise AssertionError(f"no instance has pid {pid}")


def test_each_job_runs_once_per_tick_across_the_cluster(cluster_settings: Settings) -> None:
    engine = create_engine(cluster_settings.effective_database_url)
    try:
        with engine.connect() as connection:
            since = connection.execute(text("SELECT now()")).scalar_one()
        time.sleep(SECONDS / 2)
        latest = max(_runs(engine, since), key=lambda row: row.tick)
        killed = _instance_named(latest.instance)
        topology.kill_instance(killed)
        with engine.connect() as connection:
            killed_at = connection.execute(text("SELECT now()")).scalar_one()
        time.sleep(SECONDS / 2)
        rows = _runs(engine, since)
    finally:
        engine.dispose()

    runs = Counter((row.job, row.tick) for row in rows)
    assert set(runs.values()) == {1}, [key for key, n in runs.items() if n > 1]
    # Every run finished; only a run of the killed process may have been cut off mid-run
    # (the next tick catches up, as the job runner documents).
    unfinished = [row for row in rows if row.outcome != "ok"]
    assert all(row.instance == latest.instance for row in unfinished), unfinished
    ticks: dict[str, list[datetime]] = {}
    for row in rows:
        ticks.setdefault(row.job, []).append(row.tick)
    # No tick was skipped, the kill included: a job's ticks are one interval apart.
    for job, seen in ticks.items():
        gaps = {later - earlier for earlier, later in itertools.pairwise(seen)}
        assert len(gaps) <= 1, (job, sorted(gaps))
    checkpoints = ticks["audit.checkpoint"]
    assert len(checkpoints) >= SECONDS // CHECKPOINT_SECONDS - 1, checkpoints
    # The ticks begun after the kill: the survivors ran them.
    after = [row for row in rows if row.tick >= killed_at]
    assert after
    assert latest.instance not in {row.instance for row in after}
    print(  # noqa: T201 - the figures of the run, for docs/deploy.md
        f"\njobs: {len(rows)} runs of {len(ticks)} jobs, each tick once; "
        f"{killed} killed after running {latest.job} at {latest.tick:%H:%M:%S}, "
        f"{len(after)} runs after it by {sorted({_instance_named(r.instance) for r in after})}"
    )
