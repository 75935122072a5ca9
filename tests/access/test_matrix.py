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
from sqlalchemy import select

from telehealth.audit.tables import AuditRow
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
    # The foundations' pages.
    ("GET", "/invite"): Entry("page_public"),
    ("GET", "/admin/users"): Entry("page"),
    ("POST", "/admin/users"): Entry("page"),
    ("POST", "/admin/patients"): Entry("page"),
    ("GET", "/admin/clinicians/{clinician_id}"): Entry("page"),
    ("POST", "/admin/clinicians/{clinician_id}/licenses"): Entry("page"),
    ("POST", "/admin/clinicians/{clinician_id}/dea"): Entry("page"),
    ("GET", "/admin/audit"): Entry("page"),
    ("POST", "/admin/audit"): Entry("page"),
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


# The ids in an object route's path: UUIDs and upload ids (32 hex digits).
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")
# Audit fields that differ between any two requests: when, which request, where in the chain.
_PER_REQUEST = {"at", "request_id", "chain", "seq", "prev_hash", "hash", "object_id"}


def _missing_variants(path: str) -> list[str]:
    """The path with each of its ids in turn replaced by one that names nothing."""
    variants = []
    for found in _ID.finditer(path):
        fresh = uuid.uuid4()
        stand_in = str(fresh) if "-" in found.group() else fresh.hex
        variants.append(path[: found.start()] + stand_in + path[found.end() :])
    return variants


def _answer(response: Any, request_id: str) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Everything a client sees but the date: status, body bytes, every header and its value,
    with the request's own id blanked."""
    headers = sorted(
        (k, v.replace(request_id, "{id}")) for k, v in response.headers.items() if k != "date"
    )
    return response.status_code, response.content.replace(request_id.encode(), b"{id}"), headers


def _probe_id() -> str:
    # A request id of the client's choosing, all of one length, so bodies carrying it compare.
    return f"probe-{uuid.uuid4().hex}"


def _audit_rows(app: FastAPI, request_id: str) -> list[dict[str, Any]]:
    query = select(AuditRow).where(AuditRow.request_id == request_id).order_by(AuditRow.at)
    with app.state.services.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [{k: v for k, v in row.items() if k not in _PER_REQUEST} for row in rows]


def test_no_outsider_reaches_patient_a_and_misses_look_alike(
    app: FastAPI, client: TestClient, world: World
) -> None:
    # A hidden object must answer byte for byte as a missing one (the request id is the
    # client's own here, so it is the same in both), and the audit rows it leaves in another
    # organization's log must not tell the two apart either.
    attempts = 0
    leaks: list[str] = []
    for (method, template), entry in MATRIX.items():
        if entry.audience != "patient_object":
            continue
        assert entry.target is not None
        real = entry.target(world)
        missing_paths = _missing_variants(real)
        assert missing_paths, template
        for key in OUTSIDERS:
            probe = _probe_id()
            got = _call(
                client, method, real, {**world[key].headers, "X-Request-Id": probe}, entry.body
            )
            assert "Canary" not in got.text
            attempts += 1
            if got.status_code < 400:
                leaks.append(f"{key} {method} {template} -> {got.status_code}")
                continue
            for fake in missing_paths:
                blind = _probe_id()
                headers = {**world[key].headers, "X-Request-Id": blind}
                missing = _call(client, method, fake, headers, entry.body)
                if _answer(got, probe) != _answer(missing, blind):
                    leaks.append(f"{key} {method} {template}: {got.text} != {missing.text}")
                if key.startswith("other_") and _audit_rows(app, probe) != _audit_rows(app, blind):
                    leaks.append(f"{key} {method} {template}: audit rows differ")
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


def test_someone_elses_notification_answers_like_a_missing_one(
    client: TestClient, world: World
) -> None:
    booking = matrix_visits.visit_of_patient_a("notified")
    assert booking.target is not None
    booking.target(world)  # patient A is told of the booking
    inbox = client.get("/v1/notifications", headers=world["patient_a"].headers).json()
    assert inbox, "the booking left patient A a notification"
    theirs = f"/v1/notifications/{inbox[0]['id']}/read"
    for key in OUTSIDERS:
        probe, blind = _probe_id(), _probe_id()
        got = client.post(theirs, headers={**world[key].headers, "X-Request-Id": probe})
        missing = client.post(
            f"/v1/notifications/{uuid.uuid4()}/read",
            headers={**world[key].headers, "X-Request-Id": blind},
        )
        assert got.status_code == 404
        assert _answer(got, probe) == _answer(missing, blind)
