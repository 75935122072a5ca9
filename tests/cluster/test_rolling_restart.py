"""A rolling restart of the three instances under a steady load of authenticated reads and
decisions through HAProxy: each instance in turn gets SIGTERM, drains (``/readyz`` answers 503
until HAProxy has taken it out), finishes what it was doing, exits and starts again, and no
request fails."""

from __future__ import annotations

import signal
import time

from telehealth.config import Settings
from tests.browser import eventually
from tests.cluster import topology
from tests.cluster.load import Load
from tests.cluster.test_audit import assert_each_request_audited_once, rows_per_kind
from tests.support import World


def test_a_rolling_restart_under_load_fails_no_request(
    world: World, cluster_settings: Settings
) -> None:
    per_kind = rows_per_kind(cluster_settings, world)
    with Load(world["clinician_a"].headers, world["patient_a"].patient_id, clients=6) as load:
        for name in topology.INSTANCES:
            answered = len(load.sent)
            topology.stop(f"instance-{name}", signal.SIGTERM, wait=60)
            topology.start_instance(name)
            # Back in rotation (two good checks) before the next one goes.
            topology.wait_in_rotation()
            # The load went on meanwhile.
            assert eventually(lambda n=answered: len(load.sent) > n + 50, seconds=30)
        time.sleep(2)

    assert load.failed == []
    assert set(load.served) == set(topology.INSTANCES), load.served
    # Nothing answered was lost, nothing was done twice (a retried request would show).
    assert_each_request_audited_once(cluster_settings, load, per_kind)
    print(  # noqa: T201 - the figures of the run, for docs/deploy.md
        f"\nrolling restart: {len(load.sent)} requests answered, 0 failed, by {dict(load.served)}"
    )
