"""Background jobs of the identity capability (registered with telehealth.jobs)."""

from __future__ import annotations

from datetime import timedelta

from telehealth import jobs
from telehealth.identity import repository
from telehealth.scope import Scope


@jobs.register("identity.forget-sign-in-failures", every=timedelta(hours=1))
def forget_sign_in_failures(scope: Scope) -> int:
    """Drops the counts of sources and email addresses with no failure within the window:
    they no longer slow anyone down, and the table should not keep who once mistyped."""
    window = timedelta(seconds=scope.settings.login_failure_window_seconds)
    return repository.purge_throttles(scope.session, scope.clock.now() - window)
