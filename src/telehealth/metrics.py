"""The process's Prometheus metrics: one registry per :class:`~telehealth.ports.Ports`, served at
``/metrics`` (``web/metrics.py``).

Labels are bounded sets only -- a route's template (``/v1/cases/{case_id}``, never the path),
an HTTP method and status, an error code, a job's name -- so no identifier, and therefore no
PHI, ever becomes a label value, and a label's values stay few. Each instance serves its own
figures; Prometheus adds the instances up.

The registry is the ports' own rather than prometheus-client's global one: two applications in
one process (as in tests) share nothing, and a test reads exactly what its application counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Request latency: a fast lane answers in well under a millisecond, a page in a few; a tus
# PATCH or a report may take seconds.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)
# The label of a request no route matched (a 404, a probe for a path we never had): the raw
# path would let anyone mint label values.
UNMATCHED = "unmatched"
# Methods counted by name; any other (a client may send what it likes) is counted as "OTHER".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._read_gauges: dict[str, _ReadGauge] = {}
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        registry = self.registry
        self.requests = Counter(
            "telehealth_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "telehealth_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "telehealth_errors",
            "Problems answered (RFC 9457), by the application's error code.",
            ["code", "status"],
            registry=registry,
        )
        self.audit_commit_seconds = Histogram(
            "telehealth_audit_commit_duration_seconds",
            "Time to write one group commit of audit rows durably.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.audit_batch_rows = Histogram(
            "telehealth_audit_commit_batch_rows",
            "Audit rows written by one group commit.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.signaling_sockets = Gauge(
            "telehealth_signaling_sockets",
            "Visit signaling sockets open on this instance.",
            registry=registry,
        )
        self.upload_bytes = Counter(
            "telehealth_upload_bytes",
            "Bytes of resumable-upload (tus PATCH) bodies received and stored.",
            registry=registry,
        )
        self.job_runs = Counter(
            "telehealth_job_runs",
            "Background job runs on this instance, by job and outcome "
            "(ok, failed, or lost: its lease passed to another instance first).",
            ["job", "outcome"],
            registry=registry,
        )
        self.job_seconds = Histogram(
            "telehealth_job_duration_seconds",
            "Time one background job run took, by job.",
            ["job"],
            buckets=JOB_BUCKETS,
            registry=registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "OTHER"
        # The labelled children, kept by their labels: finding them through ``labels()`` took
        # most of the 4 µs this costs a request otherwise. The keys are as bounded as the labels.
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.requests.labels(method, route, str(status)),
                self.request_seconds.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def observe_audit_commit(self, rows: int, seconds: float) -> None:
        self.audit_batch_rows.observe(rows)
        self.audit_commit_seconds.observe(seconds)

    def add_gauge(
        self, name: str, documentation: str, read: Callable[[], Iterable[Sample]]
    ) -> None:
        """A gauge read when scraped (what is in the database or a pool right now); it replaces
        one added under the same name (an application built again on the same ports)."""
        previous = self._read_gauges.pop(name, None)
        if previous is not None:
            self.registry.unregister(previous)
        gauge = self._read_gauges[name] = _ReadGauge(name, documentation, read)
        self.registry.register(gauge)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


# One sample of a gauge read at scrape time: its labels and value.
Sample = tuple[dict[str, str], float]


class _ReadGauge(Collector):
    def __init__(self, name: str, documentation: str, read: Callable[[], Iterable[Sample]]) -> None:
        self._name = name
        self._documentation = documentation
        self._read = read

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(self._name, self._documentation)]

    def collect(self) -> list[GaugeMetricFamily]:
        samples = list(self._read())
        labels = sorted({name for sample_labels, _ in samples for name in sample_labels})
        family = GaugeMetricFamily(self._name, self._documentation, labels=labels)
        for sample_labels, value in samples:
            family.add_metric([sample_labels[name] for name in labels], value)
        return [family]
