"""OpenTelemetry tracing, off unless ``TELEHEALTH_OPENTELEMETRY`` is on.

FastAPI makes the spans (one per request or WebSocket connection, and spans for dependency
resolution, the endpoint and serialization within it) and continues a caller's trace from its
``traceparent`` header; this module gives it a tracer provider of the application's own that
exports them where the settings say (``otel_exporter``), so nothing depends on a process-wide
provider. FastAPI's OpenTelemetry metrics and logs stay off: the metrics are Prometheus's
(``/metrics``) and the logs are the JSON lines of ``telehealth.logging``.

A span's ``url.path`` and ``url.query`` are blanked as the span starts: paths hold record ids
and query strings hold search words, which may be PHI. The span's name and ``http.route``
carry the route's template, which is what a trace is read by.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from telehealth.config import Settings

REDACTED = "[redacted]"
# Attributes whose values come from the request line: ids and search words.
REDACTED_ATTRIBUTES = ("url.path", "url.query", "url.full")
# Requests no one needs a trace of: probes, scrapes and static files.
UNTRACED_PATHS = ("/healthz", "/readyz", "/metrics")


@dataclass(frozen=True)
class Tracing:
    """The application's tracer provider and exporter (``None`` when tracing is off)."""

    provider: TracerProvider | None = None
    exporter: SpanExporter | None = None

    def telemetry(self) -> TelemetryConfig:
        """FastAPI's ``telemetry`` option for these settings."""
        if self.provider is None:
            return {"tracing": False, "metrics": False, "logs": False}
        return {
            "tracer_provider": self.provider,
            "tracing": True,
            "metrics": False,
            "logs": False,
            "auto_configure": False,
            "exclude": _untraced,
        }

    def shutdown(self) -> None:
        """Exports what is still queued and stops (the application's shutdown)."""
        if self.provider is not None:
            self.provider.shutdown()


def tracing_for(settings: Settings) -> Tracing:
    if not settings.opentelemetry:
        return Tracing()
    exporter = _exporter(settings)
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.otel_service_name}))
    provider.add_span_processor(_Redact())
    # The memory exporter is read by tests right after a request: no batching delay.
    if isinstance(exporter, InMemorySpanExporter):
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return Tracing(provider, exporter)


def _exporter(settings: Settings) -> SpanExporter:
    if settings.otel_exporter == "memory":
        return InMemorySpanExporter()
    if settings.otel_exporter == "console":
        return ConsoleSpanExporter()
    # Imported only when used: the OTLP exporter brings protobuf and an HTTP client.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if settings.otel_endpoint:
        return OTLPSpanExporter(endpoint=settings.otel_endpoint)
    return OTLPSpanExporter()


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    path = str(scope.get("path", ""))
    return path in UNTRACED_PATHS or path.startswith("/static/")


class _Redact(SpanProcessor):
    """Blanks the attributes that carry the request line, before any exporter sees them."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attributes = span.attributes or {}
        for name in REDACTED_ATTRIBUTES:
            if name in attributes:
                span.set_attribute(name, REDACTED)

    def on_end(self, span: ReadableSpan) -> None:
        return None
