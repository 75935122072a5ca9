"""The three instances append to the audit chains at once, under load, for a minute: the chains
verify (``telehealth audit verify``) and every request's rows are there exactly once."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter

import httpx
from sqlalchemy import bindparam, create_engine, text

from telehealth.config import Settings
from tests.cluster import topology
from tests.cluster.load import FACTS, Load, requests_of
from tests.support import World

SECONDS = float(os.environ.get("TELEHEALTH_CLUSTER_AUDIT_SECONDS", "60"))


def rows_by_request(settings: Settings, request_ids: list[str]) -> Counter[str]:
    engine = create_engine(settings.effective_database_url)
    query = text(
        "SELECT request_id, count(*) FROM audit_events WHERE request_id IN :ids GROUP BY 1"
    ).bindparams(bindparam("ids", expanding=True))
    counts: Counter[str] = Counter()
    try:
        with engine.connect() as connection:
            for start in range(0, len(request_ids), 5000):
                batch = request_ids[start : start + 5000]
                for request_id, count in connection.execute(query, {"ids": batch}):
                    counts[request_id] = count
    finally:
        engine.dispose()
    return counts


def rows_per_kind(settings: Settings, world: World) -> dict[str, int]:
    """What one request of each kind of the load writes to the audit log."""
    per_kind: dict[str, int] = {}
    headers = world["clinician_a"].headers
    with httpx.Client(base_url=topology.PUBLIC_URL, headers=headers, timeout=30) as client:
        for kind, (method, path) in requests_of(world["patient_a"].patient_id).items():
            probe = f"probe-{kind}-{uuid.uuid4().hex}"
            answer = client.request(
                method,
                path,
                json=FACTS if method == "POST" else None,
                headers={"X-Request-ID": probe},
            )
            assert answer.is_success, answer.text
            per_kind[kind] = rows_by_request(settings, [probe])[probe]
    assert all(per_kind.values()), per_kind
    return per_kind


def assert_each_request_audited_once(
    settings: Settings, load: Load, per_kind: dict[str, int]
) -> int:
    """Every answered request's audit rows are there, none twice; returns how many rows."""
    counts = rows_by_request(settings, list(load.sent))
    wrong = {
        request_id: counts.get(request_id, 0)
        for request_id, kind in load.sent.items()
        if counts.get(request_id, 0) != per_kind[kind]
    }
    assert wrong == {}, f"{len(wrong)} requests with lost or duplicated audit rows"
    return sum(per_kind[kind] for kind in load.sent.values())


def test_three_instances_append_audit_rows_concurrently(
    world: World, cluster_settings: Settings
) -> None:
    per_kind = rows_per_kind(cluster_settings, world)
    with Load(
        world["clinician_a"].headers,
        world["patient_a"].patient_id,
        clients=6,
        pins=tuple(topology.INSTANCES),
    ) as load:
        time.sleep(SECONDS)

    assert load.failed == []
    # Every instance took its share of the load: all three were appending all along.
    assert set(load.served) == set(topology.INSTANCES), load.served
    rows = assert_each_request_audited_once(cluster_settings, load, per_kind)
    assert "broken" not in topology.run_cli("audit", "verify")
    print(  # noqa: T201 - the figures of the run, for docs/deploy.md
        f"\naudit under load: {len(load.sent)} requests in {SECONDS:.0f}s "
        f"({len(load.sent) / SECONDS:.0f}/s), {rows} rows, by instance {dict(load.served)}"
    )
