"""Server-rendered store-and-forward pages: submit a case with photos, work the review queue.

Forms post back here; each action is the same service call the API makes. Photos go up with
the small tus client in ``static/review/upload.js``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from telehealth.access.service import listed_patients, patient_banner
from telehealth.errors import DomainError, ErrorCode
from telehealth.identity import service as identity
from telehealth.identity.model import Actor, Role
from telehealth.review import model, service
from telehealth.review.model import Recommendation
from telehealth.scope import Scope
from telehealth.vocabulary import PAYERS, US_STATES
from telehealth.web.auth import ScopeDep
from telehealth.web.pages import PageActorDep, render
from telehealth.web.problems import STATUS
from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)

FormText = Annotated[str, Form(max_length=20000)]


def _see(case_id: uuid.UUID) -> RedirectResponse:
    return RedirectResponse(f"/review/cases/{case_id}", status_code=303)


def _queues(scope: Scope, actor: Actor) -> dict[str, Any]:
    """What the landing page lists for this actor."""
    lists: dict[str, Any] = {}
    if actor.role in (Role.PATIENT, Role.CLINICIAN):
        lists["submitted"] = service.list_cases(scope, "submitted", None, 50)
    if actor.role is Role.CLINICIAN:
        lists["mine"] = service.list_cases(scope, "mine", None, 50)
        specialties = [
            s
            for s in identity.specialties_of(scope, actor.user_id)
            if s in model.SPECIALTY_QUESTIONNAIRES
        ]
        lists["queues"] = {s: service.list_cases(scope, s, None, 50) for s in specialties}
    if actor.role in (Role.COORDINATOR, Role.ADMIN):
        lists["overdue"] = service.list_cases(scope, "overdue", None, 50)
        lists["live_visit"] = service.list_cases(scope, "live_visit", None, 50)
    if actor.is_staff:
        # Staff see whose case each row is; queue entries name no one until claimed.
        listed = [c.patient_id for k, cases in lists.items() if k != "queues" for c in cases]
        lists["names"] = listed_patients(scope, listed)
    return lists


@router.get("/review", response_class=HTMLResponse)
def review_home(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return render(
        request, "review/index.html", {"lists": _queues(scope, actor), "now": scope.clock.now()}
    )


@router.get("/review/cases/new", response_class=HTMLResponse)
def new_case_page(
    request: Request, actor: PageActorDep, scope: ScopeDep, specialty: str = "dermatology"
) -> HTMLResponse:
    if specialty not in model.SPECIALTY_QUESTIONNAIRES:
        specialty = "dermatology"
    form_id = model.SPECIALTY_QUESTIONNAIRES[specialty]
    form = next(q for q in model.latest_questionnaires() if q.id == form_id)
    return render(
        request,
        "review/new.html",
        {
            "specialty": specialty,
            "specialties": sorted(model.SPECIALTY_QUESTIONNAIRES),
            "form": form,
            "states": sorted(US_STATES),
            "error": None,
        },
    )


def answers_from_form(form: model.Questionnaire, data: Any) -> dict[str, Any]:
    """Form fields are text; convert each to its question's type before validation."""
    answers: dict[str, Any] = {}
    for question in form.questions:
        key = f"q_{question.id}"
        if question.type is model.QuestionType.MULTI_CHOICE:
            values = [str(v) for v in data.getlist(key)]
            if values:
                answers[question.id] = values
            continue
        raw = str(data.get(key, "")).strip()
        if not raw:
            continue
        if question.type is model.QuestionType.BOOLEAN:
            answers[question.id] = raw == "yes"
        elif question.type is model.QuestionType.INTEGER:
            answers[question.id] = int(raw) if raw.lstrip("-").isdigit() else raw
        else:
            answers[question.id] = raw
    return answers


@router.post("/review/cases", response_model=None)
async def new_case_submit(request: Request, actor: PageActorDep, scope: ScopeDep) -> Response:
    data = await request.form()
    specialty = str(data.get("specialty", ""))
    form_id = str(data.get("questionnaire_id", ""))
    version = str(data.get("questionnaire_version", "0"))
    try:
        form = model.questionnaire(form_id, int(version) if version.isdigit() else 0)
        case = service.create_case(
            scope,
            service.CaseInput(
                specialty=specialty,
                reason=str(data.get("reason", ""))[:4000],
                urgency="urgent" if data.get("urgency") == "urgent" else "routine",
                acuity="routine",
                purpose="new_problem",
                location_state=_state(str(data.get("location_state", ""))),
                payer=_payer(str(data.get("payer", ""))),
                setting="home",
                questionnaire_id=form.id,
                questionnaire_version=form.version,
                answers=answers_from_form(form, data),
            ),
        )
    except DomainError as exc:
        if exc.code is not ErrorCode.INVALID_INPUT:
            raise
        scope.uow.rollback()
        fallback = specialty if specialty in model.SPECIALTY_QUESTIONNAIRES else "dermatology"
        current = next(
            q
            for q in model.latest_questionnaires()
            if q.id == model.SPECIALTY_QUESTIONNAIRES[fallback]
        )
        return render(
            request,
            "review/new.html",
            {
                "specialty": fallback,
                "specialties": sorted(model.SPECIALTY_QUESTIONNAIRES),
                "form": current,
                "states": sorted(US_STATES),
                "error": f"{exc.message} ({exc.data.get('field', 'form')})",
            },
            status_code=422,
        )
    return _see(case.id)


def _state(value: str) -> str:
    if value not in US_STATES:
        raise DomainError(ErrorCode.INVALID_INPUT, "choose a state", field="location_state")
    return value


def _payer(value: str) -> str:
    if value not in PAYERS:
        raise DomainError(ErrorCode.INVALID_INPUT, "choose who pays", field="payer")
    return value


def _case_page(
    request: Request,
    scope: Scope,
    case_id: uuid.UUID,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    view = service.case_view(scope, case_id)
    form = model.QUESTIONNAIRES.get((view.case.questionnaire_id, view.case.questionnaire_version))
    draft = next((r for r in view.reports if r.signed_at is None), None)
    # Staff see who the patient is before anything else; the case's loader read the row.
    staff = scope.require_actor().is_staff
    return render(
        request,
        "review/case.html",
        {
            "view": view,
            "case": view.case,
            "banner": patient_banner(scope, view.case.patient_id) if staff else None,
            "form": form,
            "draft": draft,
            "recommendations": [r.value for r in Recommendation],
            "recommendation_labels": model.RECOMMENDATION_LABELS,
            "recommendation_sentences": model.RECOMMENDATION_SENTENCES,
            "error": error,
            "now": scope.clock.now(),
            "media_open": view.is_originator
            and view.case.status
            in (model.CaseStatus.DRAFT.value, model.CaseStatus.AWAITING_INFO.value),
        },
        status_code=status_code,
    )


@router.get("/review/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    case_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> HTMLResponse:
    return _case_page(request, scope, case_id)


@router.post("/review/cases/{case_id}/action", response_model=None)
async def case_action(
    case_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> Response:
    """Every button on the case page posts here with ``do`` naming the action."""
    data = await request.form()
    action = str(data.get("do", ""))
    try:
        _perform(scope, case_id, action, {k: str(v) for k, v in data.items()})
    except DomainError as exc:
        if exc.code is ErrorCode.NOT_FOUND:
            raise
        scope.uow.rollback()
        return _case_page(
            request,
            scope,
            case_id,
            error=exc.message,
            status_code=STATUS.get(exc.code, 422),
        )
    return _see(case_id)


def _report_from(fields: dict[str, str]) -> service.ReportInput:
    recommendation = fields.get("recommendation", "")
    if recommendation not in {r.value for r in Recommendation}:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "choose a recommendation", field="recommendation"
        )
    minutes = fields.get("minutes", "").strip()
    findings = fields.get("findings", "").strip()
    assessment = fields.get("assessment", "").strip()
    if not findings or not assessment:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "findings and assessment are required", field="findings"
        )
    return service.ReportInput(
        findings=findings[:20000],
        assessment=assessment[:20000],
        diagnosis_codes=[
            c for c in fields.get("diagnosis_codes", "").replace(",", " ").split() if c
        ][:12],
        recommendation=Recommendation(recommendation),
        minutes=int(minutes) if minutes.isdigit() and 0 < int(minutes) <= 600 else None,
        verbal_discussion=fields.get("verbal_discussion") == "yes",
    )


def _text(fields: dict[str, str], name: str, limit: int = 8000) -> str:
    value = fields.get(name, "").strip()
    if not value:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{name} is required", field=name)
    return value[:limit]


def _perform(scope: Scope, case_id: uuid.UUID, action: str, fields: dict[str, str]) -> None:
    if action == "submit":
        service.submit_case(scope, case_id)
    elif action == "claim":
        service.claim_case(scope, case_id)
    elif action == "release":
        service.release_case(scope, case_id)
    elif action == "question":
        service.request_info(scope, case_id, _text(fields, "question", 4000))
    elif action == "answer":
        service.answer_info(scope, case_id, _text(fields, "answer"))
    elif action == "report":
        service.write_report(scope, case_id, _report_from(fields))
    elif action == "sign":
        service.sign_report(scope, case_id)
    elif action == "amend":
        service.amend_report(scope, case_id, _report_from(fields), _text(fields, "reason", 2000))
    else:
        raise DomainError(ErrorCode.INVALID_INPUT, "unknown action", field="do")
