"""The one error model.

Domain code raises :class:`DomainError` with an :class:`ErrorCode`; it knows nothing of HTTP.
``telehealth.web.problems`` maps codes to RFC 9457 problem-details responses, and the CLI maps
them to exit statuses. Messages must never carry PHI, secrets or tokens: they reach logs and
other parties.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    # Input that parsed but is not acceptable (bad field values, wrong questionnaire version).
    INVALID_INPUT = "invalid_input"
    # Authentication.
    NOT_AUTHENTICATED = "not_authenticated"
    INVALID_CREDENTIALS = "invalid_credentials"
    MFA_REQUIRED = "mfa_required"
    MFA_INVALID = "mfa_invalid"
    SESSION_EXPIRED = "session_expired"
    TOKEN_INVALID = "token_invalid"  # noqa: S105 - an error code, not a secret
    RATE_LIMITED = "rate_limited"
    # Authorization: an object the actor may not see is reported as NOT_FOUND, never FORBIDDEN.
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    # State conflicts.
    CONFLICT = "conflict"
    ALREADY_EXISTS = "already_exists"
    INVALID_STATE = "invalid_state"
    PRECONDITION_FAILED = "precondition_failed"
    # Payload limits and media.
    PAYLOAD_TOO_LARGE = "payload_too_large"
    HEADERS_TOO_LARGE = "headers_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    INTEGRITY_ERROR = "integrity_error"
    GONE = "gone"
    # Configuration and dependencies.
    CONFIGURATION = "configuration"
    UNAVAILABLE = "unavailable"
    # An unexpected failure: the client learns nothing of it.
    INTERNAL = "internal"


class DomainError(Exception):
    """An expected failure with a stable code and a message safe to show the caller."""

    def __init__(self, code: ErrorCode, message: str, **data: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data: dict[str, Any] = data

    def __repr__(self) -> str:
        return f"DomainError({self.code.value!r}, {self.message!r})"


def not_found(kind: str) -> DomainError:
    """The single not-found error: identical for a missing object and a hidden one."""
    return DomainError(ErrorCode.NOT_FOUND, f"{kind} not found")
