"""Server-rendered monitoring pages: the clinician panel and a patient's readings over time."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from telehealth.errors import DomainError, ErrorCode
from telehealth.monitoring import billing, chart, model
from telehealth.monitoring import service as monitoring
from telehealth.monitoring.tables import Alert, Enrollment, Reading
from telehealth.scope import Scope
from telehealth.web.auth import ScopeDep
from telehealth.web.pages import PageActorDep, render
from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)

DaysParam = Annotated[int, Query(ge=7, le=180)]


def _charts(
    limits: model.Thresholds,
    readings: list[Reading],
    alerts: list[Alert],
    start: datetime,
    end: datetime,
) -> list[chart.Chart]:
    data: dict[model.Metric, list[chart.Point]] = defaultdict(list)
    for reading in readings:
        data[model.Metric(reading.metric)].append(chart.Point(reading.effective_at, reading.value))
    marks = [chart.AlertMark(a.observed_at, a.rule, a.status) for a in alerts]
    built = [chart.build(panel, dict(data), limits, marks, start, end) for panel in chart.PANELS]
    return [c for c in built if not c.empty]


def _enrollment_context(scope: Scope, enrollment: Enrollment, days: int) -> dict[str, object]:
    end = scope.clock.now()
    start = end - timedelta(days=days)
    readings = list(monitoring.list_readings(scope, enrollment.id, start, end, 5000))
    alerts = list(monitoring.list_alerts(scope, enrollment.id))
    limits = monitoring.thresholds_for(scope, enrollment)
    return {
        "enrollment": enrollment,
        "charts": _charts(limits, readings, alerts, start, end),
        "readings": readings,
        "alerts": alerts,
        "days": days,
        "thresholds": limits.as_dict(),
    }


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
