"""The three instances append to the audit chains at once, under load, for a minute: the chains
verify (``telehealth audit verify``) and every request's rows are there exactly once."""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections import Counter
from typing import Any

import httpx
from sqlalchemy import bindparam, create_engine, text

from telehealth.config import Settings
from tests.cluster import topology
from tests.support import World

SECONDS = float(os.environ.get("TELEHEALTH_CLUSTER_AUDIT_SECONDS", "60"))
CLIENTS_PER_INSTANCE = 2

# bench/decisions_http.py's facts: a decision is validated, decided, stored and audited.
FACTS = {
    "date_of_service": "2026-12-01",
    "patient": {
        "location_state": "TX",
        "setting": "home",
        "payer": "medicare",
        "established": True,
        "last_in_person_visit": "2026-06-01",
        "video_capable": True,
        "consents_to_video": True,
    },
    "clinician": {
        "licenses": [{"state": "TX", "kind": "full"}],
        "dea_registrations": [],
        "specialty": "dermatology",
        "video_capable": True,
    },
    "encounter": {
        "specialty": "dermatology",
        "acuity": "routine",
        "purpose": "follow_up",
        "controlled_substance": None,
    },
}


def _rows_by_request(settings: Settings, request_ids: list[str]) -> Counter[str]:
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


def _total_rows(settings: Settings) -> int:
    engine = create_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM audit_events")).scalar_one())
    finally:
        engine.dispose()


def test_three_instances_append_audit_rows_concurrently(
    world: World, cluster_settings: Settings
) -> None:
    clinician = world["clinician_a"].headers
    patient_id = world["patient_a"].patient_id
    requests: dict[str, tuple[str, str]] = {
        "read": ("GET", f"/v1/patients/{patient_id}"),
        "decide": ("POST", "/v1/decisions"),
    }
    # What one request of each kind writes to the audit log.
    per_kind: dict[str, int] = {}
    with httpx.Client(base_url=topology.PUBLIC_URL, headers=clinician, timeout=30) as client:
        for kind, (method, path) in requests.items():
            probe = f"probe-{kind}-{uuid.uuid4().hex}"
            body: Any = FACTS if method == "POST" else None
            answer = client.request(method, path, json=body, headers={"X-Request-ID": probe})
            assert answer.is_success, answer.text
            per_kind[kind] = _rows_by_request(cluster_settings, [probe])[probe]
    assert all(per_kind.values()), per_kind
    before = _total_rows(cluster_settings)

    sent: dict[str, str] = {}  # request id -> kind, for every answered request
    failed: list[str] = []
    served: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def load(instance: str, worker: int) -> None:
        kinds = itertools.cycle(requests)
        pin = {topology.PIN_HEADER: instance}
        with httpx.Client(
            base_url=topology.PUBLIC_URL, headers={**clinician, **pin}, timeout=30
        ) as client:
            for number in itertools.count():
                if stop.is_set():
                    return
                kind = next(kinds)
                method, path = requests[kind]
                request_id = f"load-{instance}{worker}-{number:08d}"
                answer = client.request(
                    method,
                    path,
                    json=FACTS if method == "POST" else None,
                    headers={"X-Request-ID": request_id},
                )
                with lock:
                    if answer.is_success:
                        sent[request_id] = kind
                        served[answer.headers.get("x-cluster-server", "?")] += 1
                    else:
                        failed.append(f"{answer.status_code} {request_id}")

    workers = [
        threading.Thread(target=load, args=(name, n))
        for name in topology.INSTANCES
        for n in range(CLIENTS_PER_INSTANCE)
    ]
    for worker in workers:
        worker.start()
    time.sleep(SECONDS)
    stop.set()
    for worker in workers:
        worker.join(timeout=60)

    assert failed == []
    # Every instance took its share of the load (it was appending all along).
    assert set(served) == set(topology.INSTANCES), served
    counts = _rows_by_request(cluster_settings, list(sent))
    wrong = {
        rid: counts.get(rid, 0)
        for rid, kind in sent.items()
        if counts.get(rid, 0) != per_kind[kind]
    }
    assert wrong == {}, f"{len(wrong)} requests with lost or duplicated audit rows"
    expected = sum(per_kind[kind] for kind in sent.values())
    # Nothing else was appended meanwhile but the instances' own jobs' rows, if any ran.
    assert _total_rows(cluster_settings) - before >= expected
    verified = topology.run_cli("audit", "verify")
    assert "broken" not in verified
    print(  # noqa: T201 - the figures the run measured, for docs/deploy.md
        f"\naudit under load: {len(sent)} requests in {SECONDS:.0f}s "
        f"({len(sent) / SECONDS:.0f}/s), {expected} rows, by instance {dict(served)}"
    )
