"""The access matrix: every route and page, for every kind of actor, from one table.

Every route must have a row in ``MATRIX``; a new route without one fails the suite. A row names
the route's audience; the outcome each of the twelve actor kinds must get (allowed, 404 as for
a missing object, 403, 401) is derived from it (tests/access/audience.py) and asserted by a
request per actor kind, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from telehealth.audit.tables import AuditRow
from telehealth.web.inventory import iter_routes
from telehealth.web.scoped import ScopedRoute
from tests.access import (
    matrix_admin,
    matrix_fhir,
    matrix_monitoring,
    matrix_portal,
    matrix_review,
    matrix_visits,
)
from tests.access.audience import (
    ACTOR_KINDS,
    MANAGERS,
    ORG_MANAGERS,
    PATIENT_READERS,
    SIGNED_IN,
    ActorKind,
    Outcome,
    expected,
    refused_by_role,
)
from tests.access.audience import Audience as A
from tests.access.cast import cast_app as cast_app
from tests.access.cast import cast_client as cast_client
from tests.access.cast import cast_clock as cast_clock
from tests.access.cast import cast_database_url as cast_database_url
from tests.access.cast import cast_settings as cast_settings
from tests.access.cast import cast_world as cast_world
from tests.access.cast import other_org
from tests.access.matrix import (
    SAMPLE_FACTS,
    Entry,
    another_clinician,
    care_team_member,
    clinician_a,
    decision_for_patient_a,
    new_grant,
    new_patient,
    new_staff,
    new_user,
    page,
    patient_a_id,
    patient_a_version,
)
from tests.support import World

pytestmark = pytest.mark.db


def clinician_write(suffix: str, body: dict[str, Any]) -> Entry:
    """A change to a clinician's profile or credentials: each allowed call gets a new
    clinician, so the same credential can be added again."""
    return Entry(
        ORG_MANAGERS,
        target=lambda w: f"/v1/clinicians/{new_user(w)}{suffix}",
        body=body,
        seen_by=A.ORG_MEMBER,
        roles=MANAGERS,
        fresh=True,
    )


CORE: dict[tuple[str, str], Entry] = {
    ("GET", "/login"): page(A.ANYONE | SIGNED_IN),
    ("POST", "/login"): page(
        A.ANYONE | SIGNED_IN, not_probed="a sign-in form; tests/web and tests/portal sign in"
    ),
    ("POST", "/logout"): page(SIGNED_IN, not_probed="ends the session it is sent with"),
    ("GET", "/"): page(SIGNED_IN),
    ("GET", "/v1/notifications"): Entry(SIGNED_IN),
    ("POST", "/v1/decisions"): Entry(SIGNED_IN, body=SAMPLE_FACTS),
    # The decision oracle: a decision about patient A is patient A's object.
    ("GET", "/v1/decisions/{decision_id}"): Entry(
        PATIENT_READERS, target=lambda w: f"/v1/decisions/{decision_for_patient_a(w)}"
    ),
    ("POST", "/v1/notifications/{notification_id}/read"): Entry(
        SIGNED_IN,
        not_probed="each actor's own notifications; "
        "test_someone_elses_notification_answers_like_a_missing_one",
    ),
    ("GET", "/notifications"): page(SIGNED_IN),
    ("POST", "/notifications/read-all"): Entry(SIGNED_IN, body={}, page=True, form=True),
    ("GET", "/notifications/{notification_id}/open"): page(
        SIGNED_IN,
        not_probed="each actor's own notifications; "
        "test_someone_elses_notification_answers_like_a_missing_one",
    ),
    ("POST", "/notifications/{notification_id}/read"): page(
        SIGNED_IN,
        form=True,
        not_probed="each actor's own notifications; "
        "test_someone_elses_notification_answers_like_a_missing_one",
    ),
    ("GET", "/healthz"): Entry(A.ANYONE | SIGNED_IN),
    ("GET", "/readyz"): Entry(A.ANYONE | SIGNED_IN),
    # Prometheus's scraper, with the metrics token (no person's credential opens it).
    ("GET", "/metrics"): Entry(A.SCRAPER),
    ("POST", "/v1/auth/login"): Entry(
        A.ANYONE | SIGNED_IN, not_probed="takes a password, not a token; tests/identity"
    ),
    ("POST", "/v1/invites/accept"): Entry(
        A.ANYONE | SIGNED_IN, not_probed="takes an invite code, not a token; tests/identity"
    ),
    ("POST", "/v1/auth/logout"): Entry(SIGNED_IN, not_probed="revokes the token it is sent with"),
    ("GET", "/v1/me"): Entry(SIGNED_IN),
    ("POST", "/v1/me/password"): Entry(
        SIGNED_IN, not_probed="needs the current password; tests/identity"
    ),
    ("POST", "/v1/me/mfa"): Entry(
        SIGNED_IN, not_probed="changes the actor's sign-in; tests/identity"
    ),
    ("POST", "/v1/me/mfa/confirm"): Entry(
        SIGNED_IN, not_probed="changes the actor's sign-in; tests/identity"
    ),
    ("POST", "/v1/tokens"): Entry(SIGNED_IN, body={"label": "matrix", "minutes": 5}),
    ("GET", "/v1/tokens"): Entry(SIGNED_IN),
    ("DELETE", "/v1/tokens/{token_id}"): Entry(
        SIGNED_IN, not_probed="each actor's own tokens; tests/identity"
    ),
    ("GET", "/v1/users"): Entry(MANAGERS),
    ("POST", "/v1/users"): Entry(MANAGERS, body=new_staff),
    ("PUT", "/v1/users/{user_id}/role"): Entry(
        A.ORG_ADMIN,
        target=lambda w: f"/v1/users/{new_user(w)}/role",
        body={"role": "coordinator"},
        seen_by=A.ORG_MEMBER,
        roles=A.ADMINS,
        fresh=True,
    ),
    # Its own organization sees the public profile, the clinician and org managers the
    # credentials too (test_clinician_profiles_by_actor_kind); another organization gets a 404.
    ("GET", "/v1/clinicians/{clinician_id}"): Entry(
        A.ORG_MEMBER, target=clinician_a, seen_by=A.ORG_MEMBER
    ),
    ("PATCH", "/v1/clinicians/{clinician_id}"): clinician_write("", {"video_capable": True}),
    ("POST", "/v1/clinicians/{clinician_id}/licenses"): clinician_write(
        "/licenses", {"state": "NY", "kind": "full", "number": "NY-1"}
    ),
    ("POST", "/v1/clinicians/{clinician_id}/compacts"): clinician_write(
        "/compacts", {"compact": "imlc", "principal_state": "TX"}
    ),
    ("POST", "/v1/clinicians/{clinician_id}/dea-registrations"): clinician_write(
        "/dea-registrations", {"state": "TX", "number": "AB1234563", "schedules": ["II"]}
    ),
    ("GET", "/v1/patients"): Entry(SIGNED_IN),
    ("POST", "/v1/patients"): Entry(MANAGERS, body=new_patient),
    ("GET", "/v1/patients/{patient_id}"): Entry(
        PATIENT_READERS, target=lambda w: f"/v1/patients/{patient_a_id(w)}"
    ),
    ("PATCH", "/v1/patients/{patient_id}"): Entry(
        A.PATIENT_SELF | A.CARE_TEAM | A.BREAK_GLASS | A.ORG_COORDINATOR,
        target=lambda w: f"/v1/patients/{patient_a_id(w)}",
        body=patient_a_version,
    ),
    ("POST", "/v1/patients/{patient_id}/care-team"): Entry(
        ORG_MANAGERS,
        target=lambda w: f"/v1/patients/{patient_a_id(w)}/care-team",
        body=another_clinician,
        roles=MANAGERS,
    ),
    ("GET", "/v1/patients/{patient_id}/care-team"): Entry(
        PATIENT_READERS, target=lambda w: f"/v1/patients/{patient_a_id(w)}/care-team"
    ),
    ("DELETE", "/v1/patients/{patient_id}/care-team/{clinician_id}"): Entry(
        ORG_MANAGERS, target=care_team_member, fresh=True, roles=MANAGERS
    ),
    ("POST", "/v1/break-glass"): Entry(
        A.CLINICIANS,
        body={"patient_id": "00000000-0000-4000-8000-000000000000", "reason": "Unconscious, ER"},
        not_probed="a grant on another patient would widen the shared world; "
        "tests/access/test_break_glass.py",
    ),
    ("GET", "/v1/break-glass"): Entry(A.ADMINS),
    ("POST", "/v1/break-glass/{grant_id}/review"): Entry(
        A.ORG_ADMIN,
        target=lambda w: f"/v1/break-glass/{new_grant(w)}/review",
        body={"outcome": "appropriate"},
        seen_by=A.ORG_MEMBER,
        roles=A.ADMINS,
        fresh=True,
    ),
    ("GET", "/v1/audit"): Entry(A.ADMINS),
}

MATRIX: dict[tuple[str, str], Entry] = {
    **CORE,
    **matrix_review.ENTRIES,
    **matrix_visits.ENTRIES,
    **matrix_monitoring.ENTRIES,
    **matrix_portal.ENTRIES,
    **matrix_admin.ENTRIES,
    **matrix_fhir.ENTRIES,
}

IGNORED_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect"}
OTHER_ORG_KINDS = [kind for kind in ACTOR_KINDS if not kind.audiences & A.ORG_MEMBER]


# One seeded world per database for the whole module (tests/access/cast.py): the rows only add
# objects of their own (fresh=True) or change what no other row reads, and the clock never moves.


def _api_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {(r.method, r.path) for r in iter_routes(app) if r.path not in IGNORED_PATHS}


def test_every_api_route_runs_in_a_request_scope(app: FastAPI) -> None:
    # The scope is what commits the audit rows; a route outside it would read PHI unaudited.
    unscoped = [
        (r.method, r.path)
        for r in iter_routes(app)
        if isinstance(r.route, APIRoute)
        and r.path.startswith(("/v1", "/fhir"))
        and not isinstance(r.route, ScopedRoute)
    ]
    assert unscoped == []


def test_every_route_is_in_the_matrix(app: FastAPI) -> None:
    routes = _api_routes(app)
    missing = sorted(routes - MATRIX.keys())
    stale = sorted(MATRIX.keys() - routes)
    assert not missing, f"routes missing from the access matrix: {missing}"
    assert not stale, f"matrix entries for routes that no longer exist: {stale}"


def test_every_actor_kind_is_seeded(world: World) -> None:
    assert len(ACTOR_KINDS) == 12
    assert {kind.person for kind in ACTOR_KINDS} <= world.people.keys()


def _call(
    client: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None,
    *,
    as_form: bool = False,
) -> Any:
    if as_form:
        return client.request(method, path, headers=headers, data=body, follow_redirects=False)
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


def _row_param(route: tuple[str, str]) -> Any:
    entry = MATRIX[route]
    marks = []
    if entry.disagrees:
        marks.append(pytest.mark.xfail(strict=True, reason=entry.disagrees))
    return pytest.param(route, marks=marks, id=f"{route[0]} {route[1]}")


PROBED = [_row_param(route) for route, entry in MATRIX.items() if entry.not_probed is None]


@pytest.mark.parametrize("route", PROBED)
def test_each_actor_kind_gets_what_the_audience_gives_it(
    app: FastAPI, client: TestClient, world: World, route: tuple[str, str]
) -> None:
    method, template = route
    entry = MATRIX[route]
    shared = entry.target(world) if entry.target else template
    seen_by = entry.seen_by if entry.target else None
    problems: list[str] = []
    used_up = False
    for kind in ACTOR_KINDS:
        outcome = expected(kind, entry.audience, seen_by, entry.roles)
        fresh = entry.target is not None and entry.fresh and outcome is Outcome.ALLOWED
        path = entry.target(world) if fresh and entry.target else shared
        allowed_status = 409 if used_up else None
        problems += _check(app, client, world, kind, outcome, method, path, entry, allowed_status)
        used_up = used_up or (entry.once and outcome is Outcome.ALLOWED)
    assert problems == [], "\n".join(problems)


def _check(
    app: FastAPI,
    client: TestClient,
    world: World,
    kind: ActorKind,
    outcome: Outcome,
    method: str,
    path: str,
    entry: Entry,
    also_allowed: int | None = None,
) -> list[str]:
    probe = _probe_id()
    headers = {**world[kind.person].headers, **(entry.headers or {}), "X-Request-Id": probe}
    got = _call(client, method, path, headers, entry.body_for_call(world), as_form=entry.form)
    said = f"{kind.name}: {method} {path} -> {got.status_code}, expected {outcome.value}"
    if outcome is Outcome.ALLOWED:
        if got.status_code == also_allowed:
            return []
        if got.status_code >= 400 or got.headers.get("location", "").startswith("/login"):
            return [f"{said}: {got.text[:200]}"]
        # Reaching patient A's object through the grant is recorded as break-glass use.
        if kind.audiences & entry.audience & A.BREAK_GLASS and not entry.page:
            actions = {row["action"] for row in _audit_rows(app, probe)}
            if "break_glass" not in actions:
                return [f"{said}: not audited as break-glass use ({sorted(actions)})"]
        return []
    if "CanaryA" in got.text and not kind.audiences & PATIENT_READERS:
        return [f"{said}: the answer shows patient A's name"]
    status = {Outcome.HIDDEN: 404, Outcome.REFUSED: 403, Outcome.UNAUTHENTICATED: 401}[outcome]
    if got.status_code != status:
        return [f"{said}: {got.text[:200]}"]
    if outcome is Outcome.HIDDEN:
        return _looks_missing(app, client, world, kind, method, path, entry, (got, probe))
    return []


def _looks_missing(
    app: FastAPI,
    client: TestClient,
    world: World,
    kind: ActorKind,
    method: str,
    path: str,
    entry: Entry,
    hidden: tuple[Any, str],
) -> list[str]:
    """A hidden object answers byte for byte as a missing one (the request id is the client's
    own, so it is blanked in both), and the audit rows it leaves in another organization's log
    do not tell the two apart either."""
    got, probe = hidden
    problems = []
    for fake in _missing_variants(path):
        blind = _probe_id()
        headers = {**world[kind.person].headers, **(entry.headers or {}), "X-Request-Id": blind}
        body = entry.body_for_call(world)
        missing = _call(client, method, fake, headers, body, as_form=entry.form)
        if _answer(got, probe) != _answer(missing, blind):
            problems.append(f"{kind.name}: {method} {path}: {got.text} != {missing.text}")
        if kind in OTHER_ORG_KINDS and _audit_rows(app, probe) != _audit_rows(app, blind):
            problems.append(f"{kind.name}: {method} {path}: audit rows differ")
    return problems


# The rows whose routes refuse by role before they look their object up.
ROLE_FIRST = [
    pytest.param(route, id=f"{route[0]} {route[1]}")
    for route, entry in MATRIX.items()
    if entry.roles is not None and entry.not_probed is None
]


def _with_missing_ids(body: dict[str, Any] | None) -> dict[str, Any] | None:
    """The body with each id it names (the object of a route whose path has none) replaced by
    one that names nothing."""
    if body is None:
        return None
    return json.loads(_ID.sub(lambda _m: str(uuid.uuid4()), json.dumps(body)))


@pytest.mark.parametrize("route", ROLE_FIRST)
def test_a_refusal_by_role_tells_no_id_from_another(
    app: FastAPI, client: TestClient, world: World, route: tuple[str, str]
) -> None:
    """A role that can never take the action is refused first (ADR 0013), so the refusal is
    no existence oracle: patient A's object, another organization's and an id that names
    nothing get the same answer, byte for byte, and leave the same audit rows."""
    method, _template = route
    entry = MATRIX[route]
    assert entry.target is not None
    assert entry.roles is not None
    theirs = other_org(world)
    mine = entry.target(world), entry.body_for_call(world)
    asked = [mine, (entry.target(theirs), entry.body_for_call(theirs))]
    asked += [(path, mine[1]) for path in _missing_variants(mine[0])]
    if len(asked) == 2:
        asked.append((mine[0], _with_missing_ids(mine[1])))
    for kind in ACTOR_KINDS:
        if not refused_by_role(kind, entry.roles):
            continue
        answers = []
        for path, body in asked:
            probe = _probe_id()
            headers = {**world[kind.person].headers, **(entry.headers or {}), "X-Request-Id": probe}
            got = _call(client, method, path, headers, body, as_form=entry.form)
            answers.append((_answer(got, probe), _audit_rows(app, probe)))
        assert answers[0][0][0] == 403, (kind.name, answers[0][0][1])
        statuses = [answer[0][0] for answer in answers]
        assert all(answer == answers[0] for answer in answers), (kind.name, statuses)


def test_every_non_public_route_refuses_anonymous(client: TestClient, world: World) -> None:
    for (method, template), entry in MATRIX.items():
        if entry.audience & A.ANYONE or method == "WS":
            continue  # WebSocket routes are refused in their own capability's tests
        paths = [re.sub(r"\{[a-z_]+\}", lambda _m: str(uuid.uuid4()), template)]
        if entry.target is not None:
            paths.append(entry.target(world))
        for path in paths:
            response = client.request(
                method, path, json=entry.body_for_call(world) or {}, follow_redirects=False
            )
            if entry.page:
                assert response.status_code == 303, (method, path, response.status_code)
                # A page asked for is where sign-in leads back to; a form post is not.
                back = f"?{urlencode({'next': path})}" if method == "GET" else ""
                assert response.headers["location"] == f"/login{back}"
            else:
                assert response.status_code == 401, (method, path, response.status_code)


def test_patient_lists_and_searches_show_no_other_patient(client: TestClient, world: World) -> None:
    as_b = client.get("/v1/patients", headers=world["patient_b"].headers)
    assert as_b.status_code == 200
    assert "CanaryA" not in as_b.text
    assert "CanaryB" in as_b.text
    unassigned = client.get("/v1/patients", headers=world["clinician_x"].headers)
    assert unassigned.json() == []
    other_org = client.get("/v1/patients", headers=world["other_coordinator"].headers)
    names = [p["given_name"] for p in other_org.json()]
    assert "CanaryO" in names
    assert not {"CanaryA", "CanaryB"} & set(names)
    audit = client.get("/v1/audit", headers=world["other_admin"].headers)
    assert audit.status_code == 200
    # Other rows here probe patient A's objects by id, and a refusal records the id asked for
    # (as it would a guess); no row of another organization's log is about patient A.
    patient_a = str(world["patient_a"].patient_id)
    assert audit.json()
    assert all(row["patient_id"] != patient_a for row in audit.json())


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


def test_someone_elses_notification_answers_like_a_missing_one(
    client: TestClient, world: World
) -> None:
    booking = matrix_visits.visit_of_patient_a("notified")
    assert booking.target is not None
    booking.target(world)  # patient A is told of the booking
    inbox = client.get("/v1/notifications", headers=world["patient_a"].headers).json()
    assert inbox, "the booking left patient A a notification"
    routes = [
        ("POST", "/v1/notifications/{}/read"),
        ("POST", "/notifications/{}/read"),
        ("GET", "/notifications/{}/open"),
    ]
    for method, route in routes:
        theirs = route.format(inbox[0]["id"])
        for kind in ACTOR_KINDS:
            if kind.audiences & A.PATIENT_SELF:
                continue
            headers = world[kind.person].headers
            probe, blind = _probe_id(), _probe_id()
            got = client.request(method, theirs, headers={**headers, "X-Request-Id": probe})
            missing = client.request(
                method, route.format(uuid.uuid4()), headers={**headers, "X-Request-Id": blind}
            )
            assert got.status_code == 404, (kind.name, method, theirs)
            assert _answer(got, probe) == _answer(missing, blind)


PUBLIC_PROFILE = {
    "user_id",
    "display_name",
    "specialties",
    "video_capable",
    "discipline",
    "discipline_words",
}
CREDENTIALS = {"npi", "licenses", "compacts", "dea_registrations"}
# Who sees clinician A's credentials: the organization's managers and clinician A themself.
CREDENTIAL_READERS = ORG_MANAGERS


@pytest.fixture(scope="module")
def credentialed(client: TestClient, world: World) -> str:
    """Clinician A with an NPI and a DEA registration besides the seeded Texas license."""
    clinician = str(world["clinician_a"].user_id)
    headers = world["coordinator"].headers
    npi = client.patch(f"/v1/clinicians/{clinician}", json={"npi": "1234567893"}, headers=headers)
    assert npi.status_code == 200, npi.text
    dea = {"state": "TX", "number": "AB7654321", "schedules": ["II"]}
    added = client.post(f"/v1/clinicians/{clinician}/dea-registrations", json=dea, headers=headers)
    assert added.status_code == 201, added.text
    return clinician


@pytest.mark.parametrize("kind", ACTOR_KINDS, ids=lambda kind: kind.name)
def test_clinician_profile_parts_by_actor_kind(
    client: TestClient, world: World, credentialed: str, kind: ActorKind
) -> None:
    headers = world[kind.person].headers
    response = client.get(f"/v1/clinicians/{credentialed}", headers=headers)
    if not kind.audiences & A.ORG_MEMBER:
        missing = client.get(f"/v1/clinicians/{uuid.uuid4()}", headers=headers)
        assert response.status_code == missing.status_code == 404
        assert response.json()["detail"] == missing.json()["detail"]
        return
    assert response.status_code == 200
    body = response.json()
    if kind.audiences & CREDENTIAL_READERS or kind.person == "clinician_a":
        assert set(body) == PUBLIC_PROFILE | CREDENTIALS
        assert body["npi"] == "1234567893"
        assert "AB7654321" in {dea["number"] for dea in body["dea_registrations"]}
        return
    assert set(body) == PUBLIC_PROFILE
    for secret in ("TX-1", "AB7654321", "1234567893"):
        assert secret not in response.text
