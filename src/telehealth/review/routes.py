"""HTTP routes of the review capability: cases, review actions, media and tus uploads."""

from __future__ import annotations

import base64
import binascii
import functools
import uuid
from collections.abc import Iterator
from datetime import datetime
from email.utils import format_datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from telehealth import bounds
from telehealth.clock import ensure_utc
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.review import model, pages, service, uploads
from telehealth.review.schemas import (
    AmendmentIn,
    AnswerIn,
    BillingOut,
    CaseIn,
    CaseOut,
    CasePageOut,
    CaseSummaryOut,
    FindingOut,
    InfoRequestOut,
    LineOut,
    MediaOut,
    QuestionIn,
    QuestionnaireOut,
    QuestionnaireRef,
    QuestionOut,
    ReasonOut,
    ReportIn,
    ReportOut,
    SignerOut,
    UploadOut,
)
from telehealth.review.tables import ReviewCase, ReviewMedia, ReviewReport
from telehealth.scope import Scope
from telehealth.web.auth import ActorDep, ScopeDep
from telehealth.web.problems import problem, problem_responses
from telehealth.web.scoped import ScopedRoute, admission_suspended
from telehealth.workers import OrderedWorker

router = APIRouter(route_class=ScopedRoute)

# Media answers: images the viewer shows inline, and a policy that lets a file opened on its
# own do nothing (no scripts, no plugins, a sandbox without an origin). Inline styles are the
# browser's own: the page it builds around an image opened on its own centres it with them.
INLINE_TYPES = frozenset({"image/jpeg", "image/png"})
MEDIA_CSP = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"
)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,expiration,checksum,termination"
UPLOADS = "/v1/uploads/"
# tus answers header errors with 400 and has its own statuses (RFC 9457 bodies all the same).
TUS_PROBLEMS = problem_responses(400, 410, 412, 413, 415, 460)


def _tus_headers_doc(*extra: dict[str, object]) -> dict[str, object]:
    """``openapi_extra`` naming the tus headers a route reads (it reads them raw)."""
    version = {
        "name": "Tus-Resumable",
        "in": "header",
        "required": True,
        "schema": {"type": "string", "enum": [TUS_VERSION]},
    }
    return {"parameters": [version, *extra]}


TUS_CREATE_DOC = _tus_headers_doc(
    {"name": "Upload-Length", "in": "header", "schema": {"type": "integer", "minimum": 0}},
    {"name": "Upload-Metadata", "in": "header", "schema": {"type": "string"}},
)


# --- conversions -----------------------------------------------------------------------------


def _overdue(case: ReviewCase, now: datetime) -> bool:
    open_states = (*model.OPEN_REVIEW_STATES, model.CaseStatus.AWAITING_INFO)
    return (
        case.due_at is not None
        and ensure_utc(case.due_at) < now
        and model.CaseStatus(case.status) in open_states
    )


def _summary(case: ReviewCase, now: datetime) -> CaseSummaryOut:
    return CaseSummaryOut(
        id=case.id,
        kind=model.CaseKind(case.kind),
        specialty=case.specialty,
        urgency=model.Urgency(case.urgency),
        status=model.CaseStatus(case.status),
        location_state=case.location_state,
        created_at=case.created_at,
        submitted_at=case.submitted_at,
        due_at=case.due_at,
        overdue=_overdue(case, now),
    )


def case_out(view: service.CaseView, now: datetime) -> CaseOut:
    case = view.case
    return CaseOut(
        id=case.id,
        kind=model.CaseKind(case.kind),
        patient_id=case.patient_id,
        originator_id=case.originator_id,
        specialty=case.specialty,
        reason=case.reason,
        urgency=model.Urgency(case.urgency),
        acuity=case.acuity,
        purpose=case.purpose,
        location_state=case.location_state,
        payer=case.payer,
        setting=case.setting,
        controlled_substance=case.controlled_substance_schedule,
        requester_minutes=case.requester_minutes,
        questionnaire=QuestionnaireRef(
            id=case.questionnaire_id, version=case.questionnaire_version
        ),
        answers=case.answers,
        status=model.CaseStatus(case.status),
        decision_id=case.decision_id,
        live_visit_reasons=(
            [ReasonOut(**r) for r in case.live_visit_reasons] if case.live_visit_reasons else None
        ),
        created_at=case.created_at,
        updated_at=case.updated_at,
        submitted_at=case.submitted_at,
        due_at=case.due_at,
        overdue=_overdue(case, now),
        reviewer_id=case.reviewer_id,
        claim_expires_at=case.claim_expires_at,
        signed_at=case.signed_at,
        can_claim=view.can_claim,
        media=[
            MediaOut(
                id=m.id,
                kind=m.kind,
                content_type=m.content_type,
                filename=m.filename,
                size=m.size,
                sha256=m.sha256,
                upload_sha256=m.upload_sha256,
                created_at=m.created_at,
                download=f"/v1/cases/{case.id}/media/{m.id}",
            )
            for m in view.media
        ],
        info_requests=[
            InfoRequestOut(
                id=q.id,
                question=q.question,
                asked_at=q.asked_at,
                answer=q.answer,
                answered_at=q.answered_at,
            )
            for q in view.info_requests
        ],
        reports=[
            ReportOut(
                id=r.id,
                seq=r.seq,
                kind="amendment" if r.kind == "amendment" else "report",
                author_id=r.author_id,
                findings=r.findings,
                assessment=r.assessment,
                diagnosis_codes=list(r.diagnosis_codes),
                recommendation=model.Recommendation(r.recommendation),
                minutes=r.minutes,
                verbal_discussion=r.verbal_discussion,
                amendment_reason=r.amendment_reason,
                created_at=r.created_at,
                signed_at=r.signed_at,
                signed_by=_signer_out(view, r),
            )
            for r in view.reports
        ],
        billing=[
            BillingOut(
                role=b.role,
                billing_clinician_id=b.billing_clinician_id,
                encounter=b.encounter,
                lines=[LineOut(**line) for line in b.lines],
                findings=[FindingOut(**f) for f in b.findings],
                codeset_revision=b.codeset_revision,
            )
            for b in view.billing
        ],
    )


def _signer_out(view: service.CaseView, report: ReviewReport) -> SignerOut | None:
    signer = view.signers.get(report.author_id) if report.signed_at is not None else None
    return SignerOut(id=signer.id, name=signer.name) if signer else None


def _view(scope: Scope, case_id: uuid.UUID, *, record_read: bool = False) -> CaseOut:
    view = service.case_view(scope, case_id, record_read=record_read)
    return case_out(view, scope.clock.now())


def _encode_cursor(case: ReviewCase) -> str | None:
    if case.due_at is None:
        return None
    raw = f"{ensure_utc(case.due_at).isoformat()}|{case.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode("ascii")


def _decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        due, _, ident = base64.urlsafe_b64decode(cursor.encode("ascii")).decode().partition("|")
        return ensure_utc(datetime.fromisoformat(due)), uuid.UUID(ident)
    except (ValueError, OverflowError, UnicodeError, binascii.Error):
        raise DomainError(ErrorCode.INVALID_INPUT, "malformed cursor", field="cursor") from None


# --- questionnaires --------------------------------------------------------------------------


def _questionnaire_out(form: model.Questionnaire) -> QuestionnaireOut:
    return QuestionnaireOut(
        id=form.id,
        version=form.version,
        title=form.title,
        current=form.current,
        questions=[
            QuestionOut(
                id=q.id,
                text=q.text,
                type=q.type.value,
                required=q.required,
                options=list(q.options),
                minimum=q.minimum,
                maximum=q.maximum,
                max_length=q.max_length,
            )
            for q in form.questions
        ],
    )


@router.get("/v1/questionnaires", tags=["review"], response_model=list[QuestionnaireOut])
def list_questionnaires(actor: ActorDep) -> list[QuestionnaireOut]:
    return [_questionnaire_out(form) for form in model.QUESTIONNAIRES.values()]


@router.get(
    "/v1/questionnaires/{questionnaire_id}/{version}",
    tags=["review"],
    response_model=QuestionnaireOut,
)
def get_questionnaire(questionnaire_id: str, version: int, actor: ActorDep) -> QuestionnaireOut:
    form = model.QUESTIONNAIRES.get((questionnaire_id, version))
    if form is None:
        raise not_found("questionnaire")
    return _questionnaire_out(form)


# --- cases -----------------------------------------------------------------------------------


@router.post("/v1/cases", tags=["review"], response_model=CaseOut, status_code=201)
def create_case(body: CaseIn, actor: ActorDep, scope: ScopeDep) -> CaseOut:
    case = service.create_case(
        scope,
        service.CaseInput(
            specialty=body.specialty,
            reason=body.reason,
            urgency=body.urgency.value,
            acuity=body.acuity,
            purpose=body.purpose,
            location_state=body.location_state,
            payer=body.payer,
            setting=body.setting,
            questionnaire_id=body.questionnaire.id,
            questionnaire_version=body.questionnaire.version,
            answers=body.answers,
            patient_id=body.patient_id,
            controlled_substance_schedule=body.controlled_substance,
            requester_minutes=body.requester_minutes,
        ),
    )
    return _view(scope, case.id)


@router.get("/v1/cases", tags=["review"], response_model=CasePageOut)
def list_cases(
    actor: ActorDep,
    scope: ScopeDep,
    queue: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z][a-z0-9_]{1,63}$")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, bounds.limit(service.PAGE_LIMIT)] = 50,
) -> CasePageOut:
    found = service.list_cases(scope, queue, _decode_cursor(cursor), limit)
    now = scope.clock.now()
    keyset = queue not in (None, "submitted", "live_visit")
    next_cursor = _encode_cursor(found[-1]) if keyset and len(found) == limit else None
    return CasePageOut(items=[_summary(c, now) for c in found], next_cursor=next_cursor)


@router.get("/v1/cases/{case_id}", tags=["review"], response_model=CaseOut)
def get_case(case_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> CaseOut:
    return _view(scope, case_id, record_read=True)


@router.post("/v1/cases/{case_id}/submit", tags=["review"], response_model=CaseOut)
def submit_case(case_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> CaseOut:
    service.submit_case(scope, case_id)
    return _view(scope, case_id)


@router.post("/v1/cases/{case_id}/claim", tags=["review"], response_model=CaseOut)
def claim_case(case_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> CaseOut:
    service.claim_case(scope, case_id)
    return _view(scope, case_id)


@router.post("/v1/cases/{case_id}/release", tags=["review"], response_model=CaseOut)
def release_case(case_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> CaseOut:
    service.release_case(scope, case_id)
    return _view(scope, case_id)


@router.post(
    "/v1/cases/{case_id}/questions", tags=["review"], response_model=CaseOut, status_code=201
)
def ask_question(case_id: uuid.UUID, body: QuestionIn, actor: ActorDep, scope: ScopeDep) -> CaseOut:
    service.request_info(scope, case_id, body.question)
    return _view(scope, case_id)


@router.post("/v1/cases/{case_id}/answer", tags=["review"], response_model=CaseOut)
def answer_question(
    case_id: uuid.UUID, body: AnswerIn, actor: ActorDep, scope: ScopeDep
) -> CaseOut:
    service.answer_info(scope, case_id, body.answer)
    return _view(scope, case_id)


def _report_input(body: ReportIn) -> service.ReportInput:
    return service.ReportInput(
        findings=body.findings,
        assessment=body.assessment,
        diagnosis_codes=body.diagnosis_codes,
        recommendation=body.recommendation,
        minutes=body.minutes,
        verbal_discussion=body.verbal_discussion,
    )


@router.put("/v1/cases/{case_id}/report", tags=["review"], response_model=CaseOut)
def write_report(case_id: uuid.UUID, body: ReportIn, actor: ActorDep, scope: ScopeDep) -> CaseOut:
    service.write_report(scope, case_id, _report_input(body))
    return _view(scope, case_id)


@router.post("/v1/cases/{case_id}/report/sign", tags=["review"], response_model=CaseOut)
def sign_report(case_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> CaseOut:
    service.sign_report(scope, case_id)
    return _view(scope, case_id)


@router.post(
    "/v1/cases/{case_id}/amendments", tags=["review"], response_model=CaseOut, status_code=201
)
def amend_report(
    case_id: uuid.UUID, body: AmendmentIn, actor: ActorDep, scope: ScopeDep
) -> CaseOut:
    service.amend_report(scope, case_id, _report_input(body), body.reason)
    return _view(scope, case_id)


@router.get(
    "/v1/cases/{case_id}/media/{media_id}",
    tags=["review"],
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_media(
    case_id: uuid.UUID, media_id: uuid.UUID, actor: ActorDep, scope: ScopeDep
) -> Response:
    item, content = service.open_media(scope, case_id, media_id)
    return media_response(item, content)


def media_response(item: ReviewMedia, content: Iterator[bytes]) -> StreamingResponse:
    """A file's content as every download answers it (the FHIR API's Binary too)."""
    # Photos (re-encoded JPEG or PNG, their type checked from their bytes) show in the case
    # page's viewer; every other file downloads. Neither is ever a page of this origin: the
    # policy below runs nothing and loads nothing but the image itself, and nosniff comes
    # from the security middleware.
    shown = item.kind == model.MediaKind.IMAGE.value and item.content_type in INLINE_TYPES
    disposition = "inline" if shown else "attachment"
    return StreamingResponse(
        content,
        media_type=item.content_type,
        headers={
            "Content-Length": str(item.size),
            "Content-Disposition": f'{disposition}; filename="{item.filename}"',
            "Content-Security-Policy": MEDIA_CSP,
            "Cache-Control": "no-store",
        },
    )


# --- tus uploads -----------------------------------------------------------------------------


def _tus_headers(**extra: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **extra}


def _http_date(moment: datetime) -> str:
    return format_datetime(ensure_utc(moment), usegmt=True)


def _version_refused(request: Request, required: bool) -> Response | None:
    version = request.headers.get("tus-resumable")
    if version == TUS_VERSION or (version is None and not required):
        return None
    response = problem(ErrorCode.PRECONDITION_FAILED, "this server speaks tus 1.0.0", request)
    response.headers["Tus-Version"] = TUS_VERSION
    response.headers["Tus-Resumable"] = TUS_VERSION
    return response


async def _refuse(
    scope: Scope, request: Request, exc: DomainError, *, keep: bool = False
) -> Response:
    """Answer a tus request with a problem document carrying the tus headers.

    ``keep`` commits what the request recorded (a refused upload is marked failed); otherwise
    its work is rolled back, keeping durable refusals only.
    """
    if not keep:
        await run_in_threadpool(scope.uow.rollback)
    # Header errors are 400 in tus; refused content keeps its own status (422, 415, 413).
    status = 400 if exc.code is ErrorCode.INVALID_INPUT and not keep else None
    extra = {k: v for k, v in exc.data.items() if k in ("field", "offset")}
    response = problem(exc.code, exc.message, request, extra=extra, status=status)
    response.headers["Tus-Resumable"] = TUS_VERSION
    return response


@router.options(
    UPLOADS, tags=["uploads"], status_code=204, response_class=Response, responses=TUS_PROBLEMS
)
def tus_options(actor: ActorDep, scope: ScopeDep) -> Response:
    limits = service.review_settings(scope)
    return Response(
        status_code=204,
        headers=_tus_headers(
            **{
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": TUS_EXTENSIONS,
                "Tus-Max-Size": str(limits.max_upload_bytes),
                "Tus-Checksum-Algorithm": ",".join(uploads.CHECKSUM_ALGORITHMS),
            }
        ),
    )


@router.post(
    UPLOADS,
    tags=["uploads"],
    status_code=201,
    response_class=Response,
    responses=TUS_PROBLEMS,
    openapi_extra=TUS_CREATE_DOC,
)
async def tus_create(request: Request, actor: ActorDep, scope: ScopeDep) -> Response:
    """Create an upload. ``Upload-Metadata`` names ``case_id`` and ``filename`` (and optionally
    ``filetype``); size and declared type are checked here, before any body is read."""
    refused = _version_refused(request, required=True)
    if refused is not None:
        return refused
    headers = request.headers
    try:
        upload = await run_in_threadpool(
            uploads.create_upload,
            scope,
            headers.get("upload-length"),
            headers.get("upload-metadata"),
            "upload-defer-length" in headers,
        )
    except DomainError as exc:
        return await _refuse(scope, request, exc)
    return Response(
        status_code=201,
        headers=_tus_headers(
            **{
                "Location": f"{UPLOADS}{upload.id}",
                "Upload-Expires": _http_date(upload.expires_at),
                "Upload-Offset": "0",
            }
        ),
    )


@router.head(
    UPLOADS + "{upload_id}", tags=["uploads"], response_class=Response, responses=TUS_PROBLEMS
)
async def tus_head(upload_id: str, request: Request, actor: ActorDep, scope: ScopeDep) -> Response:
    try:
        state = await run_in_threadpool(uploads.upload_state, scope, upload_id)
    except DomainError as exc:
        refused = await _refuse(scope, request, exc)
        return Response(status_code=refused.status_code, headers=_tus_headers())
    return Response(
        status_code=200,
        headers=_tus_headers(
            **{
                "Upload-Offset": str(state.offset),
                "Upload-Length": str(state.length),
                "Upload-Expires": _http_date(state.expires_at),
                "Upload-Metadata": uploads.encode_metadata(state.metadata),
            }
        ),
    )


@router.get(
    UPLOADS + "{upload_id}", tags=["uploads"], response_model=UploadOut, responses=TUS_PROBLEMS
)
def upload_status(upload_id: str, actor: ActorDep, scope: ScopeDep) -> UploadOut:
    """The upload's progress as JSON (the tus HEAD request gives the same in headers)."""
    state = uploads.upload_state(scope, upload_id)
    return UploadOut(
        id=state.upload_id,
        length=state.length,
        offset=state.offset,
        status=state.status,
        expires_at=state.expires_at,
        media_id=state.media_id,
    )


@router.patch(
    UPLOADS + "{upload_id}",
    tags=["uploads"],
    status_code=204,
    response_class=Response,
    responses=TUS_PROBLEMS,
    openapi_extra={
        **_tus_headers_doc(
            {
                "name": "Upload-Offset",
                "in": "header",
                "required": True,
                "schema": {"type": "integer", "minimum": 0},
            },
            {"name": "Upload-Checksum", "in": "header", "schema": {"type": "string"}},
        ),
        "requestBody": {
            "required": True,
            "content": {"application/offset+octet-stream": {"schema": {"format": "binary"}}},
        },
    },
)
async def tus_patch(upload_id: str, request: Request, actor: ActorDep, scope: ScopeDep) -> Response:
    """Append bytes at ``Upload-Offset`` (409 if it is not the server's offset); with
    ``Upload-Checksum`` the body is verified first (460 on mismatch, offset unchanged)."""
    headers = request.headers
    try:
        patch = await run_in_threadpool(
            uploads.begin_patch,
            scope,
            upload_id,
            headers.get("upload-offset"),
            headers.get("content-length"),
            headers.get("upload-checksum"),
        )
    except DomainError as exc:
        return await _refuse(scope, request, exc)
    refused = _version_refused(request, required=True)
    if refused is None and headers.get("content-type") != "application/offset+octet-stream":
        refused = problem(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "PATCH bodies are application/offset+octet-stream",
            request,
        )
    if refused is not None:
        uploads.end_patch(patch, healthy=True)
        return refused
    return await _stream_patch(scope, request, patch)


async def _stream_patch(scope: Scope, request: Request, patch: uploads.Patch) -> Response:
    healthy = False
    try:
        try:
            # begin_patch ended the read transaction: no connection is held while bytes arrive.
            async with admission_suspended(request):
                await _receive_body(request, patch)
        except ClientDisconnect:
            # Keep every byte that arrived: the client resumes from the new offset.
            await run_in_threadpool(uploads.append_rest, patch)
            await run_in_threadpool(uploads.make_durable, patch)
            healthy = True
            return Response(status_code=400, headers=_tus_headers())
        await run_in_threadpool(uploads.finish, scope, patch)
        healthy = True
    except uploads.ContentRefused as exc:
        await run_in_threadpool(uploads.fail_upload, scope, patch, exc)
        return await _refuse(scope, request, exc, keep=True)
    except DomainError as exc:
        healthy = exc.code in (ErrorCode.CHECKSUM_MISMATCH, ErrorCode.PAYLOAD_TOO_LARGE)
        return await _refuse(scope, request, exc)
    finally:
        if healthy:
            scope.ports.metrics.upload_bytes.inc(max(0, patch.offset - patch.start_offset))
        uploads.end_patch(patch, healthy=healthy)
    return Response(
        status_code=204,
        headers=_tus_headers(
            **{
                "Upload-Offset": str(patch.offset),
                "Upload-Expires": _http_date(patch.upload.expires_at),
            }
        ),
    )


async def _receive_body(request: Request, patch: uploads.Patch) -> None:
    """Reads the body while the pieces before are sealed, staged and hashed on worker threads."""
    depth = uploads.APPENDS_IN_FLIGHT
    staging = OrderedWorker(functools.partial(uploads.stage, patch), depth=depth)
    hashing = OrderedWorker(functools.partial(uploads.digest, patch), depth=depth)
    try:
        async for piece in request.stream():
            uploads.feed(patch, piece)
            while uploads.ready(patch):
                parts = uploads.take(patch)
                await staging.submit(parts)
                await hashing.submit(parts)
    finally:
        # Both must have stopped before the writer is released, whatever failed.
        try:
            await staging.close()
        finally:
            await hashing.close()


@router.delete(
    UPLOADS + "{upload_id}",
    tags=["uploads"],
    status_code=204,
    response_class=Response,
    responses=TUS_PROBLEMS,
)
def tus_delete(upload_id: str, actor: ActorDep, scope: ScopeDep) -> Response:
    uploads.terminate(scope, upload_id)
    return Response(status_code=204, headers=_tus_headers())


router.include_router(pages.router)
