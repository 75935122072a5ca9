"""The FHIR R4 API under ``/fhir/R4``: ``metadata``, and per resource type of the catalog a
read, a search (GET, and POST ``_search``) and, where the type has one, a create.

Every answer is ``application/fhir+json``; every error an OperationOutcome (the one HTTP error
mapping, :mod:`telehealth.web.problems`, answers so under ``/fhir/``). Reads carry the
resource's version as a weak ETag and answer 304 to a matching ``If-None-Match``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from telehealth import __version__
from telehealth.errors import not_found
from telehealth.fhir import bulk, document, service
from telehealth.fhir.capability import SMART_SECURITY, capability_statement
from telehealth.fhir.catalog import RESOURCE_TYPES
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
from telehealth.review.routes import media_response
from telehealth.scope import Scope
from telehealth.web.auth import ActorDep, ScopeDep, bearer_token, current_actor
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
            return {
                status: {"description": "refused; no body (HEAD)"} for status in COMMON_PROBLEMS
            }
        return {status: dict(OUTCOME) for status in COMMON_PROBLEMS}


router = APIRouter(
    route_class=FhirRoute, default_response_class=FhirResponse, prefix=BASE_PATH, tags=[TAG]
)


def fhir_response(
    body: Resource, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


def base_url(scope: Scope) -> str:
    return scope.settings.link(BASE_PATH)


@router.get("/metadata", summary="CapabilityStatement")
def metadata(scope: ScopeDep) -> Response:
    statement = capability_statement(
        base_url(scope), __version__, RELEASED, RESOURCE_TYPES, SMART_SECURITY
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


def _export_id(value: str, kind: str = "export") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise not_found(kind) from None


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
    found = bulk.status(scope, _export_id(export_id), base_url(scope))
    if isinstance(found, bulk.Pending):
        return Response(status_code=202, headers={"X-Progress": found.progress, "Retry-After": "5"})
    return Response(orjson.dumps(found), media_type="application/json")


@router.delete("/bulkstatus/{export_id}", summary="Cancel a bulk export", responses=ACCEPTED)
def cancel_export(export_id: str, actor: ActorDep, scope: ScopeDep) -> Response:
    bulk.cancel(scope, _export_id(export_id))
    return Response(status_code=202)


@router.get(
    "/bulkfiles/{export_id}/{file_id}",
    summary="A bulk export's NDJSON file",
    responses={
        200: {"description": "NDJSON, one resource a line", "content": {bulk.NDJSON: {}}},
    },
)
def export_file(export_id: str, file_id: str, actor: ActorDep, scope: ScopeDep) -> Response:
    content = bulk.download(scope, _export_id(export_id), _export_id(file_id, "export file"))
    return StreamingResponse(content, media_type=bulk.NDJSON, headers={"Cache-Control": "no-store"})


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
        return current_actor

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
