"""Server-rendered page for organization administrators' SMART Backend Services clients: the
organization's system clients, a form to register one with its public JWKS and system scopes,
and a revoke button per active client.

The forms call the same services as the native API and the CLI (:mod:`telehealth.fhir.clients`);
the services decide who may (administrators of the organization) and audit each change.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from telehealth.errors import DomainError, ErrorCode
from telehealth.fhir import clients
from telehealth.scope import Scope
from telehealth.web.auth import ScopeDep
from telehealth.web.pages import PageActorDep, form_failed, page, see_other
from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)

PATH = "/admin/fhir-clients"
TEMPLATE = "fhir/clients.html"
# What the scopes field offers: every resource type, read and search.
DEFAULT_SCOPES = "system/*.rs"
_MAX_JWKS = 64_000


def _context(
    scope: Scope, sent: dict[str, str] | None = None, field: str | None = None
) -> dict[str, Any]:
    """The page; ``sent`` holds what a refused form was sent with, ``field`` the field the
    refusal is about (its message is shown beside that field)."""
    return {
        "clients": clients.org_clients(scope),
        "sent": sent or {"name": "", "scopes": DEFAULT_SCOPES, "jwks": ""},
        "error_field": field,
        "error": None,
    }


@router.get(PATH, response_class=HTMLResponse)
def clients_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return page(request, scope, TEMPLATE, lambda: _context(scope))


@router.post(PATH, response_model=None)
def register_client(
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    name: Annotated[str, Form(max_length=200)] = "",
    scopes: Annotated[str, Form(max_length=1000)] = "",
    jwks: Annotated[str, Form(max_length=_MAX_JWKS)] = "",
) -> Response:
    sent = {"name": name, "scopes": scopes, "jwks": jwks}
    try:
        clients.register(scope, name=name, jwks=_jwks(jwks), scopes=scopes)
    except DomainError as exc:
        field = exc.data.get("field")
        return form_failed(
            request,
            scope,
            exc,
            lambda: _context(scope, sent, field if isinstance(field, str) else None),
            TEMPLATE,
        )
    return see_other(f"{PATH}?registered=1")


@router.post(PATH + "/{client_id}/revoke", response_model=None)
def revoke_client(
    client_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> Response:
    try:
        clients.revoke(scope, client_id)
    except DomainError as exc:
        return form_failed(request, scope, exc, lambda: _context(scope), TEMPLATE)
    return see_other(f"{PATH}?revoked=1")


def _jwks(text: str) -> dict[str, Any]:
    """The JWKS pasted into the form, as the JSON object the service checks."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "the JWKS is not valid JSON", field="jwks"
        ) from exc
    if not isinstance(value, dict):
        raise DomainError(
            ErrorCode.INVALID_INPUT, 'a JWKS is a JSON object: {"keys": [...]}', field="jwks"
        )
    return value
