"""Structured JSON logs with request ids. PHI and secrets are masked before anything is written."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

# Keys whose values may carry PHI or secrets. Logs keep the key (so an event is still readable)
# and drop the value.
SENSITIVE_KEYS = frozenset(
    {
        "password",
        "new_password",
        "current_password",
        "token",
        "secret",
        "authorization",
        "cookie",
        "set-cookie",
        "totp",
        "totp_code",
        "totp_secret",
        "email",
        "name",
        "given_name",
        "family_name",
        "display_name",
        "birth_date",
        "phone",
        "address",
        "reason",
        "answers",
        "findings",
        "assessment",
        "note",
        "body",
        "query",
    }
)
MASK = "***"


def mask_sensitive(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event.keys()):
        if key.lower() in SENSITIVE_KEYS:
            event[key] = MASK
    return event


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on standard error, one write per line: a request's log line is on every
    request's path, so it is rendered by orjson and written as bytes."""
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level)
    # The server's own access log prints raw paths and query strings; requests are logged by
    # telehealth's middleware instead, with the route template only.
    logging.getLogger("uvicorn.access").disabled = True
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            mask_sensitive,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.BytesLoggerFactory(file=sys.stderr.buffer),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
