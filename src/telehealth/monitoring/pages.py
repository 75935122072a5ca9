"""Server-rendered monitoring pages: the clinician panel, a patient's readings over time and
the care team's open alerts."""

from __future__ import annotations

import uuid
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from telehealth.errors import DomainError, ErrorCode
from telehealth.monitoring import billing, chart
from telehealth.monitoring import service as monitoring
from telehealth.monitoring.tables import Enrollment
from telehealth.scope import Scope
from telehealth.web.auth import ScopeDep
from telehealth.web.pages import PageActorDep, form_failed, page, render, see_other
from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)

DaysParam = Annotated[int, Query(ge=7, le=180)]


def _enrollment_context(scope: Scope, enrollment: Enrollment, days: int) -> dict[str, object]:
    shown = monitoring.enrollment_charts(scope, enrollment, days)
    table = chart.table(shown.readings)
    return {
        "enrollment": enrollment,
        "charts": shown.charts,
        "table": table,
        "table_rows": _table_rows(table),
        "alerts": shown.alerts,
        "days": days,
        "thresholds": shown.limits.as_dict(),
    }


def _table_rows(table: list[chart.TableRow]) -> Markup:
    """The readings table's rows as one piece of HTML. A month of readings runs to hundreds of
    rows, and escaping each cell through the template cost more than the rest of the page;
    here each cell is escaped as plain text and the rows joined once."""
    return Markup(  # noqa: S704 - every cell is escaped
        "".join(
            f"<tr><td>{escape(at)}</td><td>{escape(measurement)}</td>"
            f"<td>{escape(value)}</td><td>{escape(unit)}</td>"
            f"<td>{'device clock ahead' if skew else ''}</td></tr>\n"
            for at, measurement, value, unit, skew in table
        )
    )


@router.get("/monitoring", response_class=HTMLResponse)
def panel_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    if not actor.is_staff:
        return render(request, "monitoring/me.html", _patient_context(scope))
    return render(request, "monitoring/panel.html", {"rows": billing.panel(scope)})


def _patient_context(scope: Scope) -> dict[str, object]:
    actor = scope.require_actor()
    if actor.patient_id is None:
        raise DomainError(ErrorCode.FORBIDDEN, "this page is for patients")
    enrollments = monitoring.list_enrollments(scope, actor.patient_id)
    sections = [_enrollment_context(scope, e, 30) for e in enrollments if e.status == "active"]
    return {"sections": sections}


@router.get("/monitoring/me", response_class=HTMLResponse)
def my_readings_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return render(request, "monitoring/me.html", _patient_context(scope))


@router.get("/monitoring/enrollments/{enrollment_id}", response_class=HTMLResponse)
def enrollment_page(
    request: Request,
    enrollment_id: uuid.UUID,
    actor: PageActorDep,
    scope: ScopeDep,
    days: DaysParam = 30,
) -> HTMLResponse:
    enrollment = monitoring.read_enrollment(scope, enrollment_id)
    context = _enrollment_context(scope, enrollment, days)
    patient = monitoring.patient_of(scope, enrollment)
    context["patient_name"] = f"{patient.given_name} {patient.family_name}"
    return render(request, "monitoring/enrollment.html", context)


# --- the care team's alert list -----------------------------------------------------------------


def _alerts_context(scope: Scope) -> dict[str, Any]:
    return {"rows": monitoring.open_alerts(scope), "error": None}


@router.get("/portal/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return page(request, scope, "portal/alerts.html", lambda: _alerts_context(scope))


@router.post("/portal/alerts/{alert_id}", response_model=None)
def alert_action(
    alert_id: uuid.UUID,
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    do: Annotated[str, Form(max_length=32)],
) -> Response:
    try:
        monitoring.act_on_alert(scope, alert_id, do)
    except DomainError as exc:
        return form_failed(
            request, scope, exc, lambda: _alerts_context(scope), "portal/alerts.html"
        )
    return see_other("/portal/alerts")
