"""The job that keeps ``job_runs`` short: the lease rows of old ticks are only history."""

from __future__ import annotations

from datetime import timedelta

from telehealth import jobs
from telehealth.jobs import repository
from telehealth.scope import Scope


@jobs.register("jobs.prune_runs", every=timedelta(days=1))
def prune_runs(scope: Scope) -> int:
    """Deletes the runs of ticks older than ``TELEHEALTH_JOB_RUNS_KEEP_DAYS``; a tick that old
    is long past any lease, so no runner will look for its row again."""
    keep = timedelta(days=scope.settings.job_runs_keep_days)
    return repository.delete_before(scope.session, scope.clock.now() - keep)
