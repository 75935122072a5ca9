"""A rolling restart of the three instances under a steady load of authenticated reads and
decisions through HAProxy: each instance in turn gets SIGTERM, drains (``/readyz`` answers 503
until HAProxy has taken it out), finishes what it was doing, exits and starts again, and no
request fails."""

from __future__ import annotations

import csv
import io
import signal
import time
from urllib.request import urlopen

from telehealth.config import Settings
from tests.browser import eventually
from tests.cluster import topology
from tests.cluster.load import Load
from tests.cluster.test_audit import assert_each_request_audited_once, rows_per_kind
from tests.support import World


def _haproxy_up(backend: str = "instances") -> set[str]:
    """The servers HAProxy counts as up in ``backend`` (its stats page as CSV)."""
    with urlopen(f"http://127.0.0.1:{topology.STATS_PORT}/stats;csv", timeout=5) as response:
        rows = csv.DictReader(io.StringIO(response.read().decode().lstrip("# ")))
        return {
            row["svname"]
            for row in rows
            if row["pxname"] == backend
            and row["status"] == "UP"
            and row["svname"] not in ("FRONTEND", "BACKEND")
        }


def test_a_rolling_restart_under_load_fails_no_request(
    world: World, cluster_settings: Settings
) -> None:
    per_kind = rows_per_kind(cluster_settings, world)
    assert eventually(lambda: _haproxy_up() == set(topology.INSTANCES))
    with Load(world["clinician_a"].headers, world["patient_a"].patient_id, clients=6) as load:
        for name in topology.INSTANCES:
            answered = len(load.sent)
            topology.stop(f"instance-{name}", signal.SIGTERM, wait=60)
            topology.start_instance(name)
            # Back in rotation (two good checks) before the next one goes.
            assert eventually(lambda: _haproxy_up() == set(topology.INSTANCES), seconds=30)
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
