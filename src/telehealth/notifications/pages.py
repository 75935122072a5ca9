"""The inbox page: the signed-in person's notifications, newest first, a page at a time.

Opening a notification (from the inbox or an email) marks it read and leads to its page. A
notification of someone else answers as a missing one; the loader audits the refusal.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from telehealth.errors import DomainError, ErrorCode
from telehealth.notifications import service
from telehealth.web.auth import ScopeDep
from telehealth.web.pages import PageActorDep, refused, render, see_other
from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)

PER_PAGE = 20


def _inbox_at(page: int) -> str:
    return service.INBOX if page <= 1 else f"{service.INBOX}?page={page}"


@router.get("/notifications", response_class=HTMLResponse)
def inbox_page(
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    # One more than a page tells whether an older page follows.
    found = service.inbox(
        scope, unread_only=False, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE
    )
    return render(
        request,
        "notifications/inbox.html",
        {
            "notes": found[:PER_PAGE],
            "page": page,
            "newer": _inbox_at(page - 1) if page > 1 else None,
            "older": _inbox_at(page + 1) if len(found) > PER_PAGE else None,
            "opening": service.opening_path,
        },
    )


@router.get("/notifications/{notification_id}/open", response_model=None)
def open_notification(
    notification_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> Response:
    try:
        return see_other(service.open_notification(scope, notification_id))
    except DomainError as exc:
        if exc.code is not ErrorCode.NOT_FOUND:
            raise
        return refused(request, scope, exc)


@router.post("/notifications/{notification_id}/read", response_model=None)
def mark_read(
    notification_id: uuid.UUID,
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    page: Annotated[int, Form(ge=1, le=10_000)] = 1,
) -> Response:
    try:
        service.mark_read(scope, notification_id)
    except DomainError as exc:
        if exc.code is not ErrorCode.NOT_FOUND:
            raise
        return refused(request, scope, exc)
    return see_other(_inbox_at(page))


@router.post("/notifications/read-all", response_model=None)
def mark_all_read(request: Request, actor: PageActorDep, scope: ScopeDep) -> Response:
    service.mark_all_read(scope)
    return see_other(service.INBOX)
