"""The FHIR R4 API under ``/fhir/R4``: ``metadata``, and per resource type of the catalog a
read, a search (GET, and POST ``_search``) and, where the type has one, a create.

Every answer is ``application/fhir+json``; every error an OperationOutcome (the one HTTP error
mapping, :mod:`telehealth.web.problems`, answers so under ``/fhir/``). Reads carry the
resource's version as a weak ETag and answer 304 to a matching ``If-None-Match``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from telehealth import __version__
from telehealth.fhir import bulk, clients, document, service, smart
from telehealth.fhir.capability import (
    capability_statement,
    smart_configuration,
    smart_security,
)
from telehealth.fhir.catalog import RESOURCE_TYPES
from telehealth.fhir.clients import OAuthError
from telehealth.fhir.model import (
    FHIR_JSON,
    Resource,
    etag,
    handling,
    parse_search,
)
from telehealth.fhir.model import (
    resource_id as parse_id,
)
from telehealth.fhir.registry import ResourceType
from telehealth.fhir.tables import SystemClient
from telehealth.identity.model import Actor
from telehealth.review.routes import media_response
from telehealth.scope import Scope
from telehealth.web.auth import ActorDep as NativeActorDep
from telehealth.web.auth import ScopedActorDep, ScopeDep, bearer_token
from telehealth.web.problems import COMMON_PROBLEMS
from telehealth.web.scoped import ScopedRoute

BASE_PATH = "/fhir/R4"
TAG = "fhir"
RELEASED = "2026-12-03"

OUTCOME: dict[str, Any] = {
    "description": "an OperationOutcome",
    "content": {FHIR_JSON: {"schema": {"type": "object"}}},
}


RESOURCE: dict[str, Any] = {
    "description": "a FHIR resource",
    "content": {FHIR_JSON: {"schema": {"type": "object"}}},
}


class FhirResponse(Response):
    media_type = FHIR_JSON


class FhirRoute(ScopedRoute):
    """A scoped route whose answers are FHIR JSON and whose errors are OperationOutcomes, as
    the OpenAPI document declares them."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        ok = kwargs.get("status_code") or 200
        declared = dict(kwargs.get("responses") or {})
        declared[ok] = {**RESOURCE, **declared.get(ok, {})}
        kwargs["responses"] = declared
        super().__init__(path, endpoint, **kwargs)

    def error_responses(self, body: bool) -> dict[int | str, dict[str, Any]]:
        if not body:
            return super().error_responses(body)
        return {status: dict(OUTCOME) for status in COMMON_PROBLEMS}


router = APIRouter(
    route_class=FhirRoute, default_response_class=FhirResponse, prefix=BASE_PATH, tags=[TAG]
)
# Organization administrators' management of system clients, on the native API.
clients_router = APIRouter(route_class=ScopedRoute, prefix="/v1/fhir", tags=[TAG])
TOKEN_PATH = "/auth/token"  # noqa: S105 - a path, not a secret


def fhir_response(
    body: Resource, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return FhirResponse(orjson.dumps(body), status_code=status, headers=headers)


def base_url(scope: Scope) -> str:
    return scope.settings.link(BASE_PATH)


def token_url(scope: Scope) -> str:
    return base_url(scope) + TOKEN_PATH


async def fhir_actor(actor: ScopedActorDep, scope: ScopeDep) -> Actor:
    """The request's actor, a token limited to SMART scopes included, with the token's grants
    set for :func:`telehealth.fhir.smart.granted` (none set: all of the actor's access)."""
    if actor.scopes is not None:
        scope.memo[smart.MEMO_KEY] = smart.parse_scopes(actor.scopes)
    return actor


ActorDep = Annotated[Actor, Depends(fhir_actor)]


@router.get("/metadata", summary="CapabilityStatement")
def metadata(scope: ScopeDep) -> Response:
    statement = capability_statement(
        base_url(scope), __version__, RELEASED, RESOURCE_TYPES, smart_security(token_url(scope))
    )
    return fhir_response(statement)


# --- Bulk Data export (registered before the reads, which would take ``$export`` for an id) ---

EXPORT_PARAMS = frozenset({"_type", "_since", "_outputFormat"})
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "accepted; Content-Location names the export's status URL"},
}


def _kick_off(scope: Scope, request: Request, group_id: str | None) -> Response:
    query = request.query_params
    url = scope.settings.link(request.url.path)
    asked = bulk.Asked(
        types=query.get("_type"),
        since=query.get("_since"),
        output_format=query.get("_outputFormat"),
        prefer=request.headers.get("prefer"),
        request_url=f"{url}?{request.url.query}" if request.url.query else url,
        unknown=tuple(name for name in query if name not in EXPORT_PARAMS),
    )
    export = bulk.kick_off(scope, asked, group_id)
    location = f"{base_url(scope)}/bulkstatus/{export.id}"
    return Response(status_code=202, headers={"Content-Location": location})


@router.get(
    "/Patient/$export", summary="Bulk export of the organization's patients", responses=ACCEPTED
)
def export_patients(request: Request, actor: ActorDep, scope: ScopeDep) -> Response:
    return _kick_off(scope, request, None)


@router.get(
    "/Group/{group_id}/$export",
    summary="Bulk export of a Group (an organization)",
    responses=ACCEPTED,
)
def export_group(group_id: str, request: Request, actor: ActorDep, scope: ScopeDep) -> Response:
    return _kick_off(scope, request, group_id)


@router.get(
    "/bulkstatus/{export_id}",
    summary="A bulk export's status and manifest",
    responses={
        **ACCEPTED,
        200: {"description": "the manifest", "content": {"application/json": {}}},
        202: {"description": "still running; X-Progress says how far"},
        500: OUTCOME,
    },
)
def export_status(export_id: str, actor: ActorDep, scope: ScopeDep) -> Response:
    found = bulk.status(scope, parse_id(export_id, "export"), base_url(scope))
    if isinstance(found, bulk.Pending):
        return Response(status_code=202, headers={"X-Progress": found.progress, "Retry-After": "5"})
    return Response(orjson.dumps(found), media_type="application/json")


@router.delete("/bulkstatus/{export_id}", summary="Cancel a bulk export", responses=ACCEPTED)
def cancel_export(export_id: str, actor: ActorDep, scope: ScopeDep) -> Response:
    bulk.cancel(scope, parse_id(export_id, "export"))
    return Response(status_code=202)


@router.get(
    "/bulkfiles/{export_id}/{file_id}",
    summary="A bulk export's NDJSON file",
    responses={
        200: {"description": "NDJSON, one resource a line", "content": {bulk.NDJSON: {}}},
    },
)
def export_file(export_id: str, file_id: str, actor: ActorDep, scope: ScopeDep) -> Response:
    content = bulk.download(scope, parse_id(export_id, "export"), parse_id(file_id, "export file"))
    return StreamingResponse(content, media_type=bulk.NDJSON, headers={"Cache-Control": "no-store"})


# --- SMART: configuration and the Backend Services token --------------------------------------

_PLAIN_JSON: dict[int | str, dict[str, Any]] = {
    200: {"description": "JSON (OAuth, not FHIR)", "content": {"application/json": {}}}
}


@router.get(
    "/.well-known/smart-configuration",
    summary="SMART configuration",
    response_class=JSONResponse,
    responses=_PLAIN_JSON,
)
def smart_config(scope: ScopeDep) -> JSONResponse:
    return JSONResponse(smart_configuration(token_url(scope), RESOURCE_TYPES))


class OAuthErrorOut(BaseModel):
    """An OAuth error (RFC 6749 section 5.2)."""

    error: str
    error_description: str


class AccessTokenOut(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    scope: str


_OAUTH_ERROR = {"model": OAuthErrorOut, "content": {"application/json": {}}}


@router.post(
    TOKEN_PATH,
    summary="Token (SMART Backend Services)",
    response_model=AccessTokenOut,
    response_class=JSONResponse,
    responses={
        **_PLAIN_JSON,
        400: {**_OAUTH_ERROR, "description": "refused: an OAuth error"},
        401: {**_OAUTH_ERROR, "description": "the client is not authenticated: invalid_client"},
    },
)
async def token(request: Request, scope: ScopeDep) -> JSONResponse:
    """The client-credentials grant of SMART Backend Services: a client assertion signed with
    a registered client's key gives a five-minute token limited to system scopes. Refusals
    are OAuth JSON errors (RFC 6749 section 5.2), not OperationOutcomes."""
    form = await request.form()
    fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    try:
        granted = await run_in_threadpool(clients.grant_token, scope, fields, token_url(scope))
    except OAuthError as refused:
        return JSONResponse(refused.body(), refused.status, headers)
    body = {
        "access_token": granted.access_token,
        "token_type": "bearer",
        "expires_in": granted.expires_in,
        "scope": granted.scope,
    }
    return JSONResponse(body, headers=headers)


# --- system clients (organization administrators) ---------------------------------------------


class ClientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    # The client's public JWKS: {"keys": [...]}, RSA or EC P-384 keys, each with a kid.
    jwks: dict[str, Any]
    # The system scopes it may be granted ("system/Patient.rs system/Observation.rs").
    scopes: str = Field(min_length=1, max_length=1000)


class ClientOut(BaseModel):
    id: uuid.UUID
    name: str
    scopes: str
    user_id: uuid.UUID
    jwks: dict[str, Any]
    created_at: datetime
    revoked: bool


def _client_out(client: SystemClient) -> ClientOut:
    return ClientOut(
        id=client.id,
        name=client.name,
        scopes=client.scopes,
        user_id=client.user_id,
        jwks=client.jwks,
        created_at=client.created_at,
        revoked=client.revoked_at is not None,
    )


@clients_router.post("/clients", response_model=ClientOut, status_code=201)
def register_client(body: ClientIn, actor: NativeActorDep, scope: ScopeDep) -> ClientOut:
    client = clients.register(scope, name=body.name, jwks=body.jwks, scopes=body.scopes)
    return _client_out(client)


@clients_router.get("/clients", response_model=list[ClientOut])
def list_clients(actor: NativeActorDep, scope: ScopeDep) -> list[ClientOut]:
    return [_client_out(c) for c in clients.org_clients(scope)]


@clients_router.post("/clients/{client_id}/revoke", response_model=ClientOut)
def revoke_client(client_id: uuid.UUID, actor: NativeActorDep, scope: ScopeDep) -> ClientOut:
    return _client_out(clients.revoke(scope, client_id))


# --- resource types ---------------------------------------------------------------------------


def _read_endpoint(kind: ResourceType) -> Callable[..., Response]:
    def read(resource_id: str, request: Request, actor: ActorDep, scope: ScopeDep) -> Response:
        found = service.read(scope, kind, parse_id(resource_id))
        tag = etag(found)
        headers = {"ETag": tag}
        last = found.get("meta", {}).get("lastUpdated")
        if last:
            headers["Last-Modified"] = last
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers=headers)
        return fhir_response(found, headers=headers)

    read.__name__ = f"read_{kind.name.lower()}"
    return read


def _search(
    scope: Scope, kind: ResourceType, pairs: Sequence[tuple[str, str]], prefer: str | None
) -> Response:
    query = parse_search(
        pairs, kind.param_names, frozenset(kind.sorts), frozenset(kind.includes), handling(prefer)
    )
    return fhir_response(service.search(scope, kind, query, base_url(scope)))


def _search_endpoint(kind: ResourceType) -> Callable[..., Response]:
    def search(request: Request, actor: ActorDep, scope: ScopeDep) -> Response:
        pairs = request.query_params.multi_items()
        return _search(scope, kind, pairs, request.headers.get("prefer"))

    search.__name__ = f"search_{kind.name.lower()}"
    return search


def _post_search_endpoint(kind: ResourceType) -> Callable[..., Any]:
    async def post_search(request: Request, actor: ActorDep, scope: ScopeDep) -> Response:
        form = await request.form()
        pairs = [*request.query_params.multi_items()]
        pairs += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        prefer = request.headers.get("prefer")
        return await run_in_threadpool(_search, scope, kind, pairs, prefer)

    post_search.__name__ = f"post_search_{kind.name.lower()}"
    return post_search


# Declared in the OpenAPI document for a type whose create takes its own credential (the one
# there is: a monitoring device's token, declared as the monitoring routes declare it).
_CREDENTIAL = HTTPBearer(
    scheme_name="DeviceToken", auto_error=False, description="a device token (thd_...)"
)


def _create_credential(kind: ResourceType) -> Callable[..., Any]:
    """The create route's authentication: a person's credential, or the type's own (a
    monitoring device's token for Observation), checked before the body is read."""
    check = kind.create_credential
    if check is None:
        return fhir_actor

    def credential(
        request: Request,
        scope: ScopeDep,
        _token: Annotated[HTTPAuthorizationCredentials | None, Depends(_CREDENTIAL)],
    ) -> None:
        check(scope, bearer_token(request))

    return credential


def _create_endpoint(kind: ResourceType) -> Callable[..., Response]:
    def create(
        scope: ScopeDep,
        _who: object = Depends(_create_credential(kind)),
        body: dict[str, Any] = Body(media_type=FHIR_JSON),
    ) -> Response:
        created = service.create(scope, kind, body)
        resource = created.emitted.resource
        version = resource.get("meta", {}).get("versionId", "1")
        location = f"{base_url(scope)}/{kind.name}/{resource['id']}/_history/{version}"
        headers = {"ETag": etag(resource), "Location": location}
        return fhir_response(resource, 201 if created.new else 200, headers)

    create.__name__ = f"create_{kind.name.lower()}"
    return create


def _mount(kind: ResourceType) -> None:
    name = kind.name
    router.add_api_route(
        f"/{name}", _search_endpoint(kind), methods=["GET"], summary=f"Search {name}"
    )
    router.add_api_route(
        f"/{name}/_search",
        _post_search_endpoint(kind),
        methods=["POST"],
        summary=f"Search {name} (form)",
    )
    if kind.create is not None:
        router.add_api_route(
            f"/{name}",
            _create_endpoint(kind),
            methods=["POST"],
            summary=f"Create {name}",
            status_code=201,
            responses={
                200: {"description": "the same submission, seen before: the stored resource"},
                201: {"description": "created"},
            },
        )
    router.add_api_route(
        f"/{name}/{{resource_id}}", _read_endpoint(kind), methods=["GET"], summary=f"Read {name}"
    )


for _kind in RESOURCE_TYPES:
    _mount(_kind)


@router.get(
    "/Binary/{resource_id}",
    summary="A DocumentReference's content",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def read_binary(resource_id: str, actor: ActorDep, scope: ScopeDep) -> Response:
    """The content a DocumentReference's attachment.url names, served as the native download."""
    item, content = document.open_content(scope, parse_id(resource_id))
    return media_response(item, content)
