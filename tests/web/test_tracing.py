"""OpenTelemetry tracing: off by default; on, spans go to the exporter the settings name, with
route templates and without paths or query strings."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.tracing import REDACTED
from tests.support import World, real_ports, seed_world

pytestmark = pytest.mark.db

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def traced(settings: Settings, clock: FrozenClock) -> Iterator[FastAPI]:
    configured = settings.model_copy(update={"opentelemetry": True, "otel_exporter": "memory"})
    application = create_app(configured, ports=real_ports(configured, clock))
    yield application
    application.state.services.engine.dispose()


def test_tracing_is_off_by_default(app: FastAPI) -> None:
    assert app.state.tracing.provider is None


def test_spans_carry_the_route_template_and_no_path_or_query(
    traced: FastAPI, settings: Settings, clock: FrozenClock
) -> None:
    people: World = seed_world(settings, clock, ports=traced.state.services.ports)
    exporter = traced.state.tracing.exporter
    assert isinstance(exporter, InMemorySpanExporter)
    patient = people["patient_a"].patient_id
    with TestClient(traced) as client:
        # The lane-less path: a page with a query string, read by the framework.
        client.get("/v1/patients", params={"q": "Ada"}, headers=people["clinician_a"].headers)
        assert client.get("/healthz").status_code == 200
        client.get(f"/v1/patients/{patient}", headers=people["clinician_a"].headers)
    spans = exporter.get_finished_spans()
    servers = [s for s in spans if (s.attributes or {}).get("http.route")]
    routes = {(s.attributes or {})["http.route"] for s in servers}
    assert "/v1/patients" in routes
    assert "/healthz" not in routes  # probes are not traced
    for span in spans:
        attributes = dict(span.attributes or {})
        for name in ("url.path", "url.query"):
            assert attributes.get(name, REDACTED) == REDACTED
        shown = span.name + " " + " ".join(str(v) for v in attributes.values())
        assert not UUID.search(shown), shown
        assert "Ada" not in shown
