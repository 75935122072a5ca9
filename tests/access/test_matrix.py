"""Object-level access matrix over every registered route.

Every API route must appear in ``MATRIX``; a new route without an entry fails the build. Each
object route is called by every actor who must not reach patient A's object; the answer must be
indistinguishable from the answer for an object that does not exist.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from telehealth.web.inventory import iter_routes
from telehealth.web.scoped import ScopedRoute
from tests.access import matrix_monitoring, matrix_portal, matrix_review, matrix_visits
from tests.access.matrix import Entry, decision_for_patient_a, patient_a_id
from tests.support import World

pytestmark = pytest.mark.db

CORE: dict[tuple[str, str], Entry] = {
    ("GET", "/login"): Entry("page_public"),
    ("POST", "/login"): Entry("page_public"),
    ("POST", "/logout"): Entry("page"),
    ("GET", "/"): Entry("page"),
    ("GET", "/v1/notifications"): Entry("self"),
    ("POST", "/v1/decisions"): Entry("self"),
    ("GET", "/v1/decisions/{decision_id}"): Entry(
        "patient_object",
        target=lambda w: f"/v1/decisions/{decision_for_patient_a(w)}",
        allowed=("clinician_a", "coordinator", "admin"),
    ),
    ("POST", "/v1/notifications/{notification_id}/read"): Entry("self"),
    ("GET", "/healthz"): Entry("public"),
    ("GET", "/readyz"): Entry("public"),
    ("POST", "/v1/auth/login"): Entry("public"),
    ("POST", "/v1/invites/accept"): Entry("public"),
    ("POST", "/v1/auth/logout"): Entry("self"),
    ("GET", "/v1/me"): Entry("self"),
    ("POST", "/v1/me/password"): Entry("self"),
    ("POST", "/v1/me/mfa"): Entry("self"),
    ("POST", "/v1/me/mfa/confirm"): Entry("self"),
    ("POST", "/v1/tokens"): Entry("self"),
    ("GET", "/v1/tokens"): Entry("self"),
    ("DELETE", "/v1/tokens/{token_id}"): Entry("self"),
    ("GET", "/v1/users"): Entry("org_manager"),
    ("POST", "/v1/users"): Entry("org_manager"),
    ("PUT", "/v1/users/{user_id}/role"): Entry("admin"),
    # Its own organization sees the public profile, the clinician and org managers the
    # credentials too (test_clinician_profiles.py); another organization gets a 404.
    ("GET", "/v1/clinicians/{clinician_id}"): Entry("org_member"),
    ("PATCH", "/v1/clinicians/{clinician_id}"): Entry("org_manager"),
    ("POST", "/v1/clinicians/{clinician_id}/licenses"): Entry("org_manager"),
    ("POST", "/v1/clinicians/{clinician_id}/compacts"): Entry("org_manager"),
    ("POST", "/v1/clinicians/{clinician_id}/dea-registrations"): Entry("org_manager"),
    ("GET", "/v1/patients"): Entry("self"),
    ("POST", "/v1/patients"): Entry("org_manager"),
    ("GET", "/v1/patients/{patient_id}"): Entry(
        "patient_object",
        target=lambda w: f"/v1/patients/{patient_a_id(w)}",
        allowed=("patient_a", "clinician_a", "coordinator", "admin"),
    ),
    ("PATCH", "/v1/patients/{patient_id}"): Entry(
        "patient_object",
        target=lambda w: f"/v1/patients/{patient_a_id(w)}",
        body={"phone": "555-0100", "version": 1},
        allowed=("patient_a",),
    ),
    ("POST", "/v1/patients/{patient_id}/care-team"): Entry(
        "patient_object",
        target=lambda w: f"/v1/patients/{patient_a_id(w)}/care-team",
        body={"clinician_id": "00000000-0000-4000-8000-000000000000"},
    ),
    ("POST", "/v1/break-glass"): Entry("self"),
    ("GET", "/v1/break-glass"): Entry("admin"),
    ("POST", "/v1/break-glass/{grant_id}/review"): Entry("admin"),
    ("GET", "/v1/audit"): Entry("admin"),
}

MATRIX: dict[tuple[str, str], Entry] = {
    **CORE,
    **matrix_review.ENTRIES,
    **matrix_visits.ENTRIES,
    **matrix_monitoring.ENTRIES,
    **matrix_portal.ENTRIES,
}

OUTSIDERS = ("patient_b", "clinician_x", "other_admin", "other_coordinator")
IGNORED_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect"}


def _api_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {(r.method, r.path) for r in iter_routes(app) if r.path not in IGNORED_PATHS}


def test_every_api_route_runs_in_a_request_scope(app: FastAPI) -> None:
    # The scope is what commits the audit rows; a route outside it would read PHI unaudited.
    unscoped = [
        (r.method, r.path)
        for r in iter_routes(app)
        if isinstance(r.route, APIRoute)
        and r.path.startswith("/v1")
        and not isinstance(r.route, ScopedRoute)
    ]
    assert unscoped == []


def test_every_route_is_in_the_matrix(app: FastAPI) -> None:
    routes = _api_routes(app)
    missing = sorted(routes - MATRIX.keys())
    stale = sorted(MATRIX.keys() - routes)
    assert not missing, f"routes missing from the access matrix: {missing}"
    assert not stale, f"matrix entries for routes that no longer exist: {stale}"


def _call(
    client: TestClient, method: str, path: str, headers: dict[str, str], body: dict[str, Any] | None
) -> Any:
    return client.request(method, path, headers=headers, json=body)


def _shape(response: Any) -> tuple[int, str, tuple[str, ...]]:
    body = response.json()
    body.pop("request_id", None)
    names = tuple(
        sorted(k for k in response.headers if k not in {"x-request-id", "date", "content-length"})
    )
    return response.status_code, repr(sorted(body.items())), names


def test_no_outsider_reaches_patient_a_and_misses_look_alike(
    client: TestClient, world: World
) -> None:
    attempts = 0
    leaks: list[str] = []
    for (method, template), entry in MATRIX.items():
        if entry.audience != "patient_object":
            continue
        assert entry.target is not None
        real = entry.target(world)
        fake = real.replace(patient_a_id(world), str(uuid.uuid4()))
        for key in OUTSIDERS:
            headers = world[key].headers
            got = _call(client, method, real, headers, entry.body)
            missing = _call(client, method, fake, headers, entry.body)
            attempts += 1
            if got.status_code < 400 or _shape(got) != _shape(missing):
                leaks.append(f"{key} {method} {template} -> {got.status_code}")
            assert "Canary" not in got.text
        anonymous = _call(client, method, real, {}, entry.body)
        assert anonymous.status_code == 401
    assert attempts > 0
    assert leaks == []


def test_allowed_actors_do_reach_the_object(client: TestClient, world: World) -> None:
    # The matrix could pass by refusing everyone; prove the allowed actors get through.
    for (method, _template), entry in MATRIX.items():
        if entry.audience != "patient_object" or not entry.allowed:
            continue
        assert entry.target is not None
        for key in entry.allowed:
            body = dict(entry.body) if entry.body else None
            if body and "version" in body:
                current = client.get(entry.target(world), headers=world[key].headers).json()
                body["version"] = current["version"]
            response = _call(client, method, entry.target(world), world[key].headers, body)
            assert response.status_code < 300, (key, method, response.text)


def test_every_non_public_route_refuses_anonymous(client: TestClient, world: World) -> None:
    for (method, template), entry in MATRIX.items():
        if entry.audience in ("public", "page_public"):
            continue
        path = re.sub(r"\{[a-z_]+\}", lambda _m: str(uuid.uuid4()), template)
        if method == "WS":
            continue  # WebSocket routes are refused in their own capability's tests
        response = client.request(method, path, json=entry.body or {}, follow_redirects=False)
        if entry.audience == "page":
            assert response.status_code == 303, (method, template, response.status_code)
            assert response.headers["location"] == "/login"
        else:
            assert response.status_code == 401, (method, template, response.status_code)


def test_patient_lists_and_searches_show_no_other_patient(client: TestClient, world: World) -> None:
    as_b = client.get("/v1/patients", headers=world["patient_b"].headers)
    assert as_b.status_code == 200
    assert "CanaryA" not in as_b.text
    assert "CanaryB" in as_b.text
    unassigned = client.get("/v1/patients", headers=world["clinician_x"].headers)
    assert unassigned.json() == []
    other_org = client.get("/v1/patients", headers=world["other_coordinator"].headers)
    assert other_org.json() == []
    audit = client.get("/v1/audit", headers=world["other_admin"].headers)
    assert audit.status_code == 200
    assert str(world["patient_a"].patient_id) not in audit.text


def test_staff_only_routes_refuse_patients_and_other_orgs(client: TestClient, world: World) -> None:
    clinician = world["clinician_a"].user_id
    assert client.get("/v1/users", headers=world["patient_a"].headers).status_code == 403
    assert client.get("/v1/audit", headers=world["coordinator"].headers).status_code == 403
    response = client.get(f"/v1/clinicians/{clinician}", headers=world["other_admin"].headers)
    assert response.status_code == 404
    lic = client.post(
        f"/v1/clinicians/{clinician}/licenses",
        json={"state": "NY", "kind": "full", "number": "X"},
        headers=world["other_admin"].headers,
    )
    assert lic.status_code == 404


def test_break_glass_grants_time_limited_audited_access(
    client: TestClient, world: World, clock: Any, settings: Any
) -> None:
    from datetime import timedelta

    outsider = world["clinician_x"]
    target = f"/v1/patients/{patient_a_id(world)}"
    assert client.get(target, headers=outsider.headers).status_code == 404
    short = client.post(
        "/v1/break-glass",
        json={"patient_id": patient_a_id(world), "reason": "x"},
        headers=outsider.headers,
    )
    assert short.status_code == 422
    grant = client.post(
        "/v1/break-glass",
        headers=outsider.headers,
        json={
            "patient_id": patient_a_id(world),
            "reason": "Unconscious patient in the emergency room",
        },
    )
    assert grant.status_code == 201
    assert client.get(target, headers=outsider.headers).status_code == 200
    pending = client.get("/v1/break-glass", headers=world["admin"].headers).json()
    assert [g["id"] for g in pending] == [grant.json()["id"]]
    audit = client.get(
        "/v1/audit", params={"action": "break_glass"}, headers=world["admin"].headers
    ).json()
    assert {row["detail"].get("use") for row in audit} >= {"granted", "read"}
    clock.advance(timedelta(minutes=settings.break_glass_minutes, seconds=1))
    assert client.get(target, headers=outsider.headers).status_code == 404
    reviewed = client.post(
        f"/v1/break-glass/{grant.json()['id']}/review",
        json={"outcome": "appropriate"},
        headers=world["admin"].headers,
    )
    assert reviewed.status_code == 200
    again = client.post(
        f"/v1/break-glass/{grant.json()['id']}/review",
        json={"outcome": "appropriate"},
        headers=world["admin"].headers,
    )
    assert again.status_code == 409
