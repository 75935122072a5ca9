"""Structured JSON logs with request ids. PHI and secrets are masked before anything is written."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import MutableMapping
from types import TracebackType
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

# Exceptions of these libraries quote the data they were given: SQLAlchemy appends a
# statement's bound parameters, PostgreSQL's messages quote values ("Key (email)=(...)
# already exists", "invalid input syntax for type integer: ..."), pydantic echoes the input.
# Their tracebacks are logged with the exception's type and SQLSTATE, never its message.
WITHHELD_MESSAGES = frozenset(
    {"sqlalchemy", "psycopg", "psycopg2", "asyncpg", "sqlite3", "pydantic", "pydantic_core"}
)

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def mask_sensitive(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event.keys()):
        if key.lower() in SENSITIVE_KEYS:
            event[key] = MASK
    return event


def format_exception(exc_info: ExcInfo) -> str:
    """A traceback as Python prints it, chained exceptions included, except that the message
    of an exception that may quote data (:data:`WITHHELD_MESSAGES`) is left out."""
    chain = _chain(exc_info[1])
    parts: list[str] = []
    for position, exc in enumerate(reversed(chain)):
        if position:
            parts.append(
                "\nThe above exception was the direct cause of the following exception:\n\n"
                if chain[len(chain) - position].__cause__ is exc
                else "\nDuring handling of the above exception, another exception occurred:\n\n"
            )
        if exc.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_tb(exc.__traceback__))
        parts.append(_exception_line(exc))
    return "".join(parts).rstrip("\n")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it was raised from or while handling, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return chain


def _exception_line(exc: BaseException) -> str:
    kind = type(exc)
    if kind.__module__.partition(".")[0] not in WITHHELD_MESSAGES:
        return "".join(traceback.format_exception_only(kind, exc))
    sqlstate = getattr(exc, "sqlstate", None) or getattr(
        getattr(exc, "orig", None), "sqlstate", None
    )
    code = f", SQLSTATE {sqlstate}" if sqlstate else ""
    return f"{kind.__module__}.{kind.__qualname__}: (message withheld: it may quote data{code})\n"


class SafeFormatter(logging.Formatter):
    """The standard library's formatter (the server's own errors, other libraries), with
    tracebacks rendered by :func:`format_exception`."""

    def formatException(self, ei: Any) -> str:
        return format_exception(ei)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on standard error, one write per line: a request's log line is on every
    request's path, so it is rendered by orjson and written as bytes."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("%(message)s"))
    logging.basicConfig(handlers=[handler], level=level)
    # The server's own access log prints raw paths and query strings; requests are logged by
    # telehealth's middleware instead, with the route template only.
    logging.getLogger("uvicorn.access").disabled = True
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            mask_sensitive,
            structlog.processors.ExceptionRenderer(format_exception),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.BytesLoggerFactory(file=sys.stderr.buffer),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
