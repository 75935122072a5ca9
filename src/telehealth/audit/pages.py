"""The administrators' audit-log search page. Searching the log is itself audited."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, time
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from telehealth.audit import service
from telehealth.audit.model import Action, ShownEvent
from telehealth.clock import stamp
from telehealth.errors import DomainError, ErrorCode
from telehealth.scope import Scope
from telehealth.web.auth import ScopeDep
from telehealth.web.pages import PageActorDep, form_date, form_failed, page, refused, render
from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)


def _audit_context(scope: Scope, query: service.AuditQuery, searched: bool) -> dict[str, Any]:
    events = service.search_shown(scope, query)
    return {
        "count": len(events),
        "rows": _audit_rows(events),
        "query": query,
        "actions": [a.value for a in Action],
        "searched": searched,
        "error": None,
    }


def _audit_rows(events: Sequence[ShownEvent]) -> Markup:
    """The events as the table's rows, one piece of HTML. The log lists up to 500 rows, and
    escaping each of their cells through the template cost more than the rest of the page;
    here each cell is escaped as plain text and the rows joined once."""
    return Markup("".join(_audit_row(event) for event in events))  # noqa: S704 - escaped


def _audit_row(event: ShownEvent) -> str:
    target = escape(event.object_type)
    if event.object_id:
        target += " " + _short(event.object_id)
    actor = "—"
    if event.actor_id:
        actor = _short(event.actor_id.hex)
        if event.actor_role:
            actor += " " + escape(event.actor_role)
    patient = _short(event.patient_id.hex) if event.patient_id else "—"
    return (
        f"<tr><td>{stamp(event.at, seconds=True)}</td><td>{escape(event.action)}</td>"
        f"<td>{escape(event.outcome)}</td><td>{target}</td><td>{actor}</td>"
        f"<td>{patient}</td><td>{escape(_detail(event))}</td></tr>\n"
    )


def _short(identifier: str) -> str:
    """An identifier's first eight characters, as code."""
    return f"<code>{escape(identifier[:8])}</code>"


def _detail(event: ShownEvent) -> str:
    return ", ".join(f"{key}={value}" for key, value in (event.detail or {}).items())


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return page(
        request,
        scope,
        "portal/audit.html",
        lambda: _audit_context(scope, service.AuditQuery(limit=50), searched=False),
    )


@router.post("/admin/audit", response_model=None)
async def audit_search(request: Request, actor: PageActorDep, scope: ScopeDep) -> Response:
    """A POST, so the patient and actor searched for stay out of URLs and access logs."""
    data = await request.form()
    try:
        query = service.AuditQuery(
            patient_id=_uuid(str(data.get("patient_id", "")), "patient_id"),
            actor_id=_uuid(str(data.get("actor_id", "")), "actor_id"),
            action=_action(str(data.get("action", ""))),
            since=_day_start(str(data.get("since", ""))[:10], "since"),
            until=_day_start(str(data.get("until", ""))[:10], "until"),
            limit=200,
        )
        context = _audit_context(scope, query, searched=True)
    except DomainError as exc:
        if exc.code is not ErrorCode.INVALID_INPUT:
            return refused(request, scope, exc)
        return form_failed(
            request,
            scope,
            exc,
            lambda: _audit_context(scope, service.AuditQuery(limit=50), searched=False),
            "portal/audit.html",
        )
    return render(request, "portal/audit.html", context)


def _uuid(value: str, field: str) -> uuid.UUID | None:
    value = value.strip()
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "not a valid identifier", field=field) from exc


def _action(value: str) -> Action | None:
    if not value:
        return None
    try:
        return Action(value)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "unknown action", field="action") from exc


def _day_start(value: str, field: str) -> datetime | None:
    day = form_date(value, field)
    return datetime.combine(day, time(0, 0), tzinfo=UTC) if day else None
