"""Maps the domain error model to RFC 9457 problem-details responses. The only HTTP mapping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from telehealth.errors import DomainError, ErrorCode
from telehealth.logging import get_logger
from telehealth.metrics import Metrics

PROBLEM_MEDIA_TYPE = "application/problem+json"

STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_INPUT: 422,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.MFA_REQUIRED: 401,
    ErrorCode.MFA_INVALID: 401,
    ErrorCode.SESSION_EXPIRED: 401,
    ErrorCode.TOKEN_INVALID: 401,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.PRECONDITION_FAILED: 412,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.HEADERS_TOO_LARGE: 431,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.CHECKSUM_MISMATCH: 460,
    ErrorCode.GONE: 410,
    ErrorCode.INTEGRITY_ERROR: 500,
    ErrorCode.CONFIGURATION: 500,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}

TITLES: dict[ErrorCode, str] = {
    code: code.value.replace("_", " ").capitalize() for code in ErrorCode
}

# The FHIR API answers every error as an OperationOutcome whose issue code says what kind.
FHIR_PREFIX = "/fhir/"
FHIR_MEDIA_TYPE = "application/fhir+json"
FHIR_ISSUE: dict[ErrorCode, str] = {
    ErrorCode.INVALID_INPUT: "invalid",
    ErrorCode.NOT_AUTHENTICATED: "login",
    ErrorCode.INVALID_CREDENTIALS: "security",
    ErrorCode.MFA_REQUIRED: "login",
    ErrorCode.MFA_INVALID: "security",
    ErrorCode.SESSION_EXPIRED: "expired",
    ErrorCode.TOKEN_INVALID: "security",
    ErrorCode.RATE_LIMITED: "throttled",
    ErrorCode.FORBIDDEN: "forbidden",
    ErrorCode.NOT_FOUND: "not-found",
    ErrorCode.CONFLICT: "conflict",
    ErrorCode.ALREADY_EXISTS: "duplicate",
    ErrorCode.INVALID_STATE: "business-rule",
    ErrorCode.PRECONDITION_FAILED: "business-rule",
    ErrorCode.PAYLOAD_TOO_LARGE: "too-costly",
    ErrorCode.HEADERS_TOO_LARGE: "too-costly",
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: "not-supported",
    ErrorCode.CHECKSUM_MISMATCH: "invalid",
    ErrorCode.GONE: "deleted",
    ErrorCode.INTEGRITY_ERROR: "exception",
    ErrorCode.CONFIGURATION: "exception",
    ErrorCode.UNAVAILABLE: "transient",
    ErrorCode.INTERNAL: "exception",
}

# Structured data a client may rely on; anything else stays server-side.
PUBLIC_DATA_KEYS = frozenset({"field", "retry_after", "offset", "expected", "rule", "opens_at"})

log = get_logger("telehealth.web")


class Problem(BaseModel):
    """An RFC 9457 problem, as :func:`problem` writes it (for the OpenAPI document)."""

    # Public data (``field``, ``errors``, ``retry_after``...) rides along as extra members.
    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = None


def problem_responses(*statuses: int, body: bool = True) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries declaring that ``statuses`` answer with a problem
    (without ``body``, for HEAD: the status alone)."""
    if not body:
        return {status: {"description": "refused; no body (HEAD)"} for status in statuses}
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {
            "model": Problem,
            "description": "problem details (RFC 9457)",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
        }
        for status in statuses
    }


# Any API route may answer these: a body that is not JSON, no or an expired credential, a
# role that may not act, a hidden or missing object, a stale or conflicting change, a
# refused payload, a rate limit, the database unavailable.
COMMON_PROBLEMS = (400, 401, 403, 404, 409, 422, 429, 503)


def problem(
    code: ErrorCode,
    detail: str,
    request: Request | None = None,
    *,
    extra: dict[str, Any] | None = None,
    status: int | None = None,
) -> JSONResponse:
    status = status or STATUS[code]
    extra = extra or {}
    if request is not None and request.url.path.startswith(FHIR_PREFIX):
        if code is ErrorCode.INVALID_INPUT and _is_fhir_search(request):
            status = 400  # FHIR answers a search it cannot run with 400, a bad resource 422
        outcome = _operation_outcome(code, detail, extra)
        return JSONResponse(
            outcome, status, _headers(code, status, extra), media_type=FHIR_MEDIA_TYPE
        )
    body: dict[str, Any] = {
        "type": f"urn:telehealth:problem:{code.value}",
        "title": TITLES[code],
        "status": status,
        "detail": detail,
        "code": code.value,
    }
    if request is not None:
        body["request_id"] = getattr(request.state, "request_id", None)
    body.update(extra)
    return JSONResponse(body, status, _headers(code, status, extra), media_type=PROBLEM_MEDIA_TYPE)


def _headers(code: ErrorCode, status: int, extra: dict[str, Any]) -> dict[str, str]:
    headers = {"Cache-Control": "no-store"}
    retry = extra.get("retry_after")
    if code is ErrorCode.RATE_LIMITED and retry:
        headers["Retry-After"] = str(retry)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="telehealth"'
    return headers


def _is_fhir_search(request: Request) -> bool:
    return request.method == "GET" or request.url.path.endswith("/_search")


def _operation_outcome(code: ErrorCode, detail: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The problem as a FHIR OperationOutcome: one issue, its code from :data:`FHIR_ISSUE`, the
    platform's error code as its details, the field it concerns as its expression."""
    issue: dict[str, Any] = {
        "severity": "error",
        "code": FHIR_ISSUE[code],
        "details": {
            "coding": [{"system": "urn:telehealth:problem", "code": code.value}],
            "text": TITLES[code],
        },
        "diagnostics": detail,
    }
    field = extra.get("field")
    if isinstance(field, str) and field:
        issue["expression"] = [field]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


# Renders an error as a page for a browser: (request, code, status) -> response. Set by
# :func:`install`; the web pages own the template.
ErrorPage = Callable[[Request, ErrorCode, int], Response]

# API paths answer problem JSON to every client; any other path is a page.
API_PREFIXES = ("/v1/", FHIR_PREFIX, "/healthz", "/readyz", "/openapi.json", "/docs")


def wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API): it gets an HTML error page, not JSON."""
    path = request.url.path
    if path.startswith(API_PREFIXES) or path.startswith("/static/"):
        return False
    return "text/html" in request.headers.get("accept", "")


def _answer(
    request: Request,
    code: ErrorCode,
    detail: str,
    *,
    extra: dict[str, Any] | None = None,
    status: int | None = None,
) -> Response:
    _count(request, code, status or STATUS[code])
    error_page: ErrorPage | None = getattr(request.app.state, "error_page", None)
    if error_page is not None and wants_page(request):
        return error_page(request, code, status or STATUS[code])
    return problem(code, detail, request, extra=extra, status=status)


def _count(request: Request, code: ErrorCode, status: int) -> None:
    """Counts the problem in the application's metrics (``telehealth_errors_total``)."""
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(code.value, str(status)).inc()


def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    extra = {k: v for k, v in exc.data.items() if k in PUBLIC_DATA_KEYS}
    return _answer(request, exc.code, exc.message, extra=extra)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Echo where and why, never the offending value: it may be PHI.
    errors = [
        {"field": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", "")}
        for err in exc.errors()
    ]
    first = errors[0]["field"] if errors else "request"
    _count(request, ErrorCode.INVALID_INPUT, STATUS[ErrorCode.INVALID_INPUT])
    return problem(
        ErrorCode.INVALID_INPUT, f"invalid value for {first}", request, extra={"errors": errors}
    )


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {
        404: ErrorCode.NOT_FOUND,
        405: ErrorCode.INVALID_INPUT,
        401: ErrorCode.NOT_AUTHENTICATED,
        403: ErrorCode.FORBIDDEN,
        413: ErrorCode.PAYLOAD_TOO_LARGE,
        409: ErrorCode.CONFLICT,
    }.get(exc.status_code, ErrorCode.INVALID_INPUT)
    detail = "not found" if exc.status_code == 404 else str(exc.detail)
    return _answer(request, code, detail, status=exc.status_code)


def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # A uniqueness or foreign-key race lost to a concurrent request: a conflict, not a crash.
    log.warning("integrity_conflict", request_id=getattr(request.state, "request_id", None))
    _count(request, ErrorCode.CONFLICT, STATUS[ErrorCode.CONFLICT])
    return problem(ErrorCode.CONFLICT, "the change conflicts with the current state", request)


def _operational_error(request: Request, exc: Exception) -> Response:
    log.error("database_unavailable", error=type(exc).__name__)
    return _answer(request, ErrorCode.UNAVAILABLE, "the service is temporarily unavailable")


def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette logs the exception after this answer; the client learns nothing of it.
    return _answer(request, ErrorCode.INTERNAL, "something went wrong on the server")


def install(app: FastAPI, error_page: ErrorPage | None = None) -> None:
    app.state.error_page = error_page
    app.add_exception_handler(Exception, _server_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(OperationalError, _operational_error)
