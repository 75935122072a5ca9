"""Server-rendered visit pages: the visit room (joined by link) and the signed-in visit views.

The room page carries no token in its URL: the link's fragment holds it, and the page's script
sends it in a header or in the signaling socket's first message.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from telehealth.visits import service
from telehealth.web.auth import ScopeDep
from telehealth.web.pages import PageActorDep, render
from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)


@router.get("/visits/join", response_class=HTMLResponse)
def visit_room(request: Request) -> HTMLResponse:
    return render(request, "visits/room.html")


@router.get("/visits", response_class=HTMLResponse)
def my_visits(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    visits = service.readable_visits(scope, limit=100, offset=0)
    return render(request, "visits/list.html", {"visits": visits})


@router.get("/visits/{visit_id}", response_class=HTMLResponse)
def visit_page(
    request: Request, visit_id: uuid.UUID, actor: PageActorDep, scope: ScopeDep
) -> HTMLResponse:
    visit = service.readable_visit(scope, visit_id)
    consent = service.consent_status(scope, visit)
    return render(
        request,
        "visits/detail.html",
        {
            "visit": visit,
            "consents": consent.given,
            "outstanding": consent.outstanding,
            "record": service.session_record(scope, visit),
            "note": service.note_view(scope, visit),
            "participants": service.participants_view(scope, visit),
        },
    )
