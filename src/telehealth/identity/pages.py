"""Server-rendered identity pages: invite acceptance, everyone's own profile (the time zone
times are shown in), and the coordinator/administrator pages for the organization's users and
clinicians' credentials.

Forms post back here and call the same services the API uses. A refused or hidden object is
answered with an error page; the service has already audited it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from telehealth.errors import DomainError, ErrorCode
from telehealth.identity import admin, queries
from telehealth.identity import service as identity
from telehealth.identity.model import (
    AdministrativeSex,
    LicenseKind,
    Role,
    discipline_in_words,
    parse_discipline,
    sex_in_words,
    time_zone_choices,
)
from telehealth.scope import Scope
from telehealth.vocabulary import CONTROLLED_SCHEDULES, DISCIPLINE_WORDS, US_STATES
from telehealth.web.auth import ScopeDep
from telehealth.web.pages import PageActorDep, form_date, form_failed, page, render, see_other
from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)

Text = Annotated[str, Form(max_length=320)]


@router.get("/invite", response_class=HTMLResponse)
def invite_page(request: Request) -> HTMLResponse:
    """The invite token stays in the URL fragment; the page's script posts it to the API."""
    return render(request, "portal/invite.html")


# --- the signed-in person's own profile ------------------------------------------------------


def _profile_context(scope: Scope, chosen: str | None = None) -> dict[str, Any]:
    actor = scope.require_actor()
    user = queries.user_by_id(scope.session, actor.user_id)
    us_zones, other_zones = time_zone_choices()
    return {
        "user": user,
        "chosen": user.time_zone if chosen is None and user is not None else chosen,
        "us_zones": us_zones,
        "other_zones": other_zones,
        "now": scope.clock.now(),
    }


@router.get("/profile", response_class=HTMLResponse)
def profile_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return render(request, "profile.html", _profile_context(scope))


@router.post("/profile", response_model=None)
def profile_submit(
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    time_zone: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        identity.set_time_zone(scope, time_zone.strip() or None)
    except DomainError as exc:
        return form_failed(
            request, scope, exc, lambda: _profile_context(scope, time_zone), "profile.html"
        )
    return see_other("/profile?saved=1")


# --- users --------------------------------------------------------------------------------------


def _users_context(
    scope: Scope,
    invitation: admin.Invitation | None = None,
    patient_form: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The users page; ``patient_form`` holds what a refused patient form was sent with."""
    actor = scope.require_actor()
    roles = [Role.CLINICIAN.value]
    if actor.role is Role.ADMIN:
        roles += [Role.COORDINATOR.value, Role.ADMIN.value]
    return {
        "users": admin.org_users(scope),
        "disciplines": {
            user_id: discipline_in_words(code)
            for user_id, code in admin.org_disciplines(scope).items()
        },
        "discipline_choices": DISCIPLINE_WORDS,
        "roles": roles,
        "states": sorted(US_STATES),
        "sexes": [(s.value, sex_in_words(s.value)) for s in AdministrativeSex],
        "patient_form": patient_form or {},
        "invitation": invitation,
        "error": None,
    }


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
    return page(request, scope, "portal/users.html", lambda: _users_context(scope))


@router.post("/admin/users", response_model=None)
def invite_staff(
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    email: Text,
    display_name: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=16)],
    discipline: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    try:
        chosen = _role(role)
        invitation = admin.invite_user(
            scope,
            email=email.strip(),
            display_name=display_name.strip(),
            role=chosen,
            # The form offers a discipline beside every role; only a clinician keeps it.
            discipline=parse_discipline(discipline) if chosen is Role.CLINICIAN else None,
        )
    except DomainError as exc:
        return form_failed(request, scope, exc, lambda: _users_context(scope), "portal/users.html")
    return render(request, "portal/users.html", _users_context(scope, invitation), status_code=201)


@router.post("/admin/patients", response_model=None)
def invite_patient(
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    given_name: Annotated[str, Form(max_length=120)],
    family_name: Annotated[str, Form(max_length=120)],
    birth_date: Annotated[str, Form(max_length=10)],
    home_state: Annotated[str, Form(max_length=2)],
    email: Text,
    sex: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    sent = {
        "given_name": given_name,
        "family_name": family_name,
        "birth_date": birth_date,
        "home_state": home_state,
        "email": email,
        "sex": sex,
    }
    try:
        invitation = admin.invite_patient(
            scope,
            admin.PatientInput(
                given_name=given_name.strip(),
                family_name=family_name.strip(),
                birth_date=form_date(birth_date, "birth_date", required=True) or date.min,
                home_state=home_state,
                email=email.strip(),
                sex=_sex(sex),
            ),
        )
    except DomainError as exc:
        return form_failed(
            request, scope, exc, lambda: _users_context(scope, None, sent), "portal/users.html"
        )
    return render(request, "portal/users.html", _users_context(scope, invitation), status_code=201)


def _sex(value: str) -> AdministrativeSex | None:
    """The form's choice: blank is "not recorded"; anything else must be one of the codes."""
    if not value.strip():
        return None
    try:
        return AdministrativeSex(value.strip())
    except ValueError as exc:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "choose the patient's sex or leave it not recorded",
            field="sex",
        ) from exc


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "choose a role", field="role") from exc


# --- clinicians' credentials --------------------------------------------------------------------


def _clinician_context(scope: Scope, clinician_id: uuid.UUID) -> dict[str, Any]:
    creds = admin.clinician_credentials(scope, clinician_id)
    return {
        "creds": creds,
        "discipline_words": discipline_in_words(creds.profile.discipline),
        "discipline_choices": DISCIPLINE_WORDS,
        "states": sorted(US_STATES),
        "kinds": [k.value for k in LicenseKind],
        "schedules": CONTROLLED_SCHEDULES,
        "error": None,
    }


@router.get("/admin/clinicians/{clinician_id}", response_class=HTMLResponse)
def clinician_page(
    clinician_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> HTMLResponse:
    return page(
        request, scope, "portal/clinician.html", lambda: _clinician_context(scope, clinician_id)
    )


def _change_clinician(
    request: Request, scope: Scope, clinician_id: uuid.UUID, change: Callable[[], object]
) -> Response:
    """One change from the clinician's page: back to the page, or the page again with the
    refusal beside the forms."""
    try:
        change()
    except DomainError as exc:
        return form_failed(
            request,
            scope,
            exc,
            lambda: _clinician_context(scope, clinician_id),
            "portal/clinician.html",
        )
    return see_other(f"/admin/clinicians/{clinician_id}")


@router.post("/admin/clinicians/{clinician_id}/licenses", response_model=None)
def add_license(
    clinician_id: uuid.UUID,
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    state: Annotated[str, Form(max_length=2)],
    kind: Annotated[str, Form(max_length=32)],
    number: Annotated[str, Form(max_length=64)],
    expires_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    return _change_clinician(
        request,
        scope,
        clinician_id,
        lambda: admin.add_license(
            scope,
            clinician_id,
            state=state,
            kind=kind,
            number=number.strip(),
            expires_on=form_date(expires_on, "expires_on"),
        ),
    )


@router.post("/admin/clinicians/{clinician_id}/dea", response_model=None)
async def add_dea(
    clinician_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> Response:
    data = await request.form()
    return _change_clinician(
        request,
        scope,
        clinician_id,
        lambda: admin.add_dea(
            scope,
            clinician_id,
            state=str(data.get("state", ""))[:2],
            number=str(data.get("number", "")).strip()[:16],
            schedules=[str(s) for s in data.getlist("schedules")][:4],
            expires_on=form_date(str(data.get("expires_on", ""))[:10], "expires_on"),
        ),
    )


@router.post("/admin/clinicians/{clinician_id}/languages", response_model=None)
async def set_languages(
    clinician_id: uuid.UUID, request: Request, actor: PageActorDep, scope: ScopeDep
) -> Response:
    data = await request.form()
    languages = [str(tag)[:16] for tag in data.getlist("languages")][:32]
    return _change_clinician(
        request, scope, clinician_id, lambda: admin.set_languages(scope, clinician_id, languages)
    )


@router.post("/admin/clinicians/{clinician_id}/discipline", response_model=None)
def set_discipline(
    clinician_id: uuid.UUID,
    request: Request,
    actor: PageActorDep,
    scope: ScopeDep,
    discipline: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    return _change_clinician(
        request,
        scope,
        clinician_id,
        lambda: admin.set_discipline(scope, clinician_id, parse_discipline(discipline)),
    )
