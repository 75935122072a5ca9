"""Steady authenticated load for the cluster tests: reads of a patient and modality decisions,
each request with its own request id, from client threads in the test process."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType

import httpx

from tests.access.matrix import SAMPLE_FACTS
from tests.cluster import topology

# Valid facts for a decision (the access matrix's sample): validated, decided, stored, audited.
FACTS = SAMPLE_FACTS


def requests_of(patient_id: object) -> dict[str, tuple[str, str]]:
    return {"read": ("GET", f"/v1/patients/{patient_id}"), "decide": ("POST", "/v1/decisions")}


@dataclass
class Load:
    """``clients`` threads sending reads and decisions alternately until stopped; ``pins``
    (one per thread, cycled) sends each thread's requests to one instance, or none: HAProxy
    balances them."""

    headers: dict[str, str]
    patient_id: object
    clients: int = 6
    pins: tuple[str | None, ...] = (None,)
    sent: dict[str, str] = field(default_factory=dict)  # request id -> kind (answered 2xx)
    failed: list[str] = field(default_factory=list)
    served: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        pins = itertools.cycle(self.pins)
        for number in range(self.clients):
            thread = threading.Thread(target=self._client, args=(number, next(pins)))
            self._threads.append(thread)
            thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _client(self, number: int, pin: str | None) -> None:
        requests = requests_of(self.patient_id)
        kinds = itertools.cycle(requests)
        headers = {**self.headers, **({topology.PIN_HEADER: pin} if pin else {})}
        with httpx.Client(base_url=topology.PUBLIC_URL, headers=headers, timeout=60) as client:
            for sequence in itertools.count():
                if self._stop.is_set():
                    return
                kind = next(kinds)
                method, path = requests[kind]
                request_id = f"load-{pin or 'x'}{number:02d}-{sequence:08d}"
                try:
                    answer = client.request(
                        method,
                        path,
                        json=FACTS if method == "POST" else None,
                        headers={"X-Request-ID": request_id},
                    )
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.failed.append(f"{request_id}: {exc!r}")
                    continue
                with self._lock:
                    if answer.is_success:
                        self.sent[request_id] = kind
                        self.served[answer.headers.get("x-cluster-server", "?")] += 1
                    else:
                        self.failed.append(f"{request_id}: {answer.status_code}")
