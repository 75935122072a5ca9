"""Every list of the JSON API agrees with the one read rule, for each of the twelve actor kinds.

Lists filter in SQL, so they restate the read rules (docs/access.md, "Lists"). For each list and
actor kind: (1) every item listed answers 200 on its item route for the same actor (or, for a
kind without one, passes ``access.loader.load``): nothing listed that the rule hides; (2) every
object of the kind in the world that the actor may read is listed, pages followed: nothing
readable missing. A list narrower by design lists exactly the readable objects its documented
narrower rule keeps (``Listing.narrower`` says which and where it is documented). SQLite and
PostgreSQL (tests/access/cast.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from telehealth.access import loader
from telehealth.access import service as access
from telehealth.access.tables import BreakGlassGrant
from telehealth.errors import DomainError, ErrorCode
from telehealth.identity import service as identity
from telehealth.identity.model import LicenseKind, Role
from telehealth.identity.tables import CareAssignment, Patient
from telehealth.monitoring import service as monitoring
from telehealth.monitoring.service import OPEN_ALERT_STATES
from telehealth.monitoring.tables import Alert, Enrollment
from telehealth.notifications import service as notifications
from telehealth.notifications.tables import Notification
from telehealth.review import service as review
from telehealth.review.model import OPEN_REVIEW_STATES
from telehealth.review.tables import ReviewCase
from telehealth.scope import Scope
from telehealth.visits.tables import Visit
from telehealth.web.inventory import iter_routes
from tests.access.audience import ACTOR_KINDS, MANAGERS, SIGNED_IN, STAFF, ActorKind
from tests.access.audience import Audience as A
from tests.access.cast import cast_app as cast_app
from tests.access.cast import cast_client as cast_client
from tests.access.cast import cast_clock as cast_clock
from tests.access.cast import cast_database_url as cast_database_url
from tests.access.cast import cast_settings as cast_settings
from tests.access.cast import cast_world as cast_world
from tests.access.cast import other_org, recast
from tests.access.matrix import new_grant
from tests.conftest import START
from tests.monitoring.helpers import add_device, bp, enroll, post
from tests.review.support import acting, build_case, case_input
from tests.support import Person, World, scope_for
from tests.visits.support import book, services_of

pytestmark = pytest.mark.db

# Readings before the world's present (tests/conftest.py START), inside the enrollments' episode.
HIGH_READING_AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
# Small pages, so that following them is part of what is checked.
PAGE = 2


@dataclass(frozen=True)
class ObjectKind:
    """A kind of the read rules (access/rules.py READ_RULES) that lists return."""

    table: Any
    item: str | None  # its GET item route; None where only the loader reaches it
    parent: Callable[[Any], uuid.UUID] | None = None  # the id of the object a nested list is of


KINDS: dict[str, ObjectKind] = {
    "patient": ObjectKind(Patient, "/v1/patients/{}"),
    "visit": ObjectKind(Visit, "/v1/visits/{}"),
    "review_case": ObjectKind(ReviewCase, "/v1/cases/{}"),
    "monitoring_enrollment": ObjectKind(
        Enrollment, "/v1/monitoring/enrollments/{}", parent=lambda row: row.patient_id
    ),
    "monitoring_alert": ObjectKind(
        Alert, "/v1/monitoring/alerts/{}", parent=lambda row: row.enrollment_id
    ),
    "notification": ObjectKind(Notification, None),
    "break_glass_grant": ObjectKind(BreakGlassGrant, None),
}


@dataclass
class Viewer:
    """One actor kind's person and what the read rule's facts say about them."""

    person: Person
    role: Role
    # Enrollments on the actor's monitoring panel: for a clinician, those of patients in their
    # care now (the loader's facts) and those they made; for coordinators and administrators,
    # their organization's (filtered by the list's own query, hence readable ones only).
    on_panel: set[uuid.UUID]
    claimable: set[uuid.UUID]  # cases review's claim gate lets them claim


Narrower = Callable[[Viewer, Any], bool]


@dataclass(frozen=True)
class Listing:
    path: str  # with "{}" for the parent's id of a nested list
    kind: str
    audience: A  # who may ask; everyone else gets a 403
    params: dict[str, str] = field(default_factory=dict)
    # The documented narrower rule: which readable objects (table rows) the list keeps.
    narrower: Narrower | None = None
    paging: str | None = None  # "offset", "cursor", or None for a list of one page
    key: str = "id"  # the item's field holding the object's id
    # Whether the list is of objects that need not be readable (the specialty queue).
    beyond_reading: bool = False
    # Lists no route serves as JSON are read through their service, as the actor.
    service: Callable[[Scope], list[uuid.UUID]] | None = None


LISTINGS: dict[str, Listing] = {
    "patients": Listing("/v1/patients", "patient", SIGNED_IN, paging="offset"),
    "visits": Listing("/v1/visits", "visit", SIGNED_IN, paging="offset"),
    "visits booked": Listing(
        "/v1/visits",
        "visit",
        SIGNED_IN,
        {"status": "booked"},
        narrower=lambda _viewer, row: row.status == "booked",  # the filter asked for
        paging="offset",
    ),
    # docs/review.md: the default queue is what the actor sent (a patient: their own cases).
    "cases submitted": Listing(
        "/v1/cases",
        "review_case",
        SIGNED_IN,
        {"limit": "100"},  # this queue is one page
        narrower=lambda viewer, row: (
            viewer.role is Role.PATIENT or row.originator_id == viewer.person.user_id
        ),
    ),
    # docs/review.md: the cases the actor holds (claimed, or waiting for the answer they asked).
    "cases mine": Listing(
        "/v1/cases",
        "review_case",
        SIGNED_IN,
        {"queue": "mine"},
        narrower=lambda viewer, row: (
            row.reviewer_id == viewer.person.user_id and row.status in ("claimed", "awaiting_info")
        ),
        paging="cursor",
    ),
    # docs/review.md: the coordination queues are the organization's managers'.
    "cases overdue": Listing(
        "/v1/cases",
        "review_case",
        MANAGERS,
        {"queue": "overdue"},
        narrower=lambda _viewer, row: (
            row.status in {state.value for state in OPEN_REVIEW_STATES}
            and row.due_at is not None
            and row.due_at < START  # the world's clock never moves here
        ),
        paging="cursor",
    ),
    "cases live_visit": Listing(
        "/v1/cases",
        "review_case",
        MANAGERS,
        {"queue": "live_visit", "limit": "100"},  # this queue is one page
        narrower=lambda _viewer, row: row.status == "needs_live_visit",
    ),
    # docs/review.md: a specialty queue lists the queued cases its clinician may claim, with no
    # patient details; reading one comes after the claim, so its entries need not be readable.
    # Clinician A is the cast's one dermatologist; no other actor kind may ask.
    "cases dermatology": Listing(
        "/v1/cases",
        "review_case",
        A.CARE_TEAM,
        {"queue": "dermatology"},
        narrower=lambda viewer, row: row.status == "queued" and row.id in viewer.claimable,
        paging="cursor",
        beyond_reading=True,
    ),
    # docs/monitoring.md: the panel is of active enrollments; a clinician's, of the patients in
    # their care and the enrollments they made, not what an emergency grant reaches.
    "monitoring panel": Listing(
        "/v1/monitoring/panel",
        "monitoring_enrollment",
        STAFF,
        narrower=lambda viewer, row: row.status == "active" and row.id in viewer.on_panel,
        key="enrollment_id",
    ),
    # The portal's alert list (/portal/alerts and the dashboards, no JSON route): the open
    # alerts of the panel's enrollments, by the same rule.
    "portal open alerts": Listing(
        "monitoring.open_alerts",
        "monitoring_alert",
        STAFF,
        narrower=lambda viewer, row: (
            row.status in OPEN_ALERT_STATES and row.enrollment_id in viewer.on_panel
        ),
        service=lambda scope: [row.alert.id for row in monitoring.open_alerts(scope)],
    ),
    # A patient's enrollments, and an enrollment's alerts, are lists of a parent object: for
    # every parent the actor may read, all of its children they may read.
    "patient enrollments": Listing(
        "/v1/monitoring/patients/{}/enrollments", "monitoring_enrollment", SIGNED_IN
    ),
    "enrollment alerts": Listing(
        "/v1/monitoring/enrollments/{}/alerts", "monitoring_alert", SIGNED_IN
    ),
    "notifications": Listing("/v1/notifications", "notification", SIGNED_IN, paging="offset"),
    "notifications unread": Listing(
        "/v1/notifications",
        "notification",
        SIGNED_IN,
        {"unread": "true"},
        narrower=lambda _viewer, row: row.read_at is None,  # the filter asked for
        paging="offset",
    ),
    # The inbox page (/notifications, no JSON route): the same service, a page at a time.
    "notifications inbox page": Listing(
        "notifications.inbox", "notification", SIGNED_IN, service=lambda scope: _inbox(scope)
    ),
    # The default is the grants awaiting review.
    "break-glass": Listing(
        "/v1/break-glass",
        "break_glass_grant",
        A.ADMINS,
        narrower=lambda _viewer, row: row.reviewed_at is None,
    ),
    "break-glass all": Listing(
        "/v1/break-glass", "break_glass_grant", A.ADMINS, {"unreviewed": "false"}
    ),
}


def _inbox(scope: Scope) -> list[uuid.UUID]:
    """Every page of the inbox page's list, followed to its end."""
    listed: list[uuid.UUID] = []
    while found := notifications.inbox(scope, unread_only=False, limit=PAGE, offset=len(listed)):
        listed += [note.id for note in found]
    return listed


PARENTS = {"monitoring_enrollment": "patient", "monitoring_alert": "monitoring_enrollment"}

# Collection routes without a path parameter that list no object kind of the read rules.
NOT_RULED_LISTS = {
    "/v1/tokens": "the actor's own API tokens (tests/identity)",
    "/v1/users": "the organization's staff accounts, for its managers (matrix row)",
    "/v1/fhir/clients": "the organization's system clients, for its administrators (matrix "
    "row, tests/fhir)",
    "/v1/audit": "audit rows, for administrators of the organization (matrix row, tests/audit)",
    "/v1/questionnaires": "questionnaire definitions, no patient's data",
    "/v1/visit-availability": "a clinician's weekly windows (policy.may_see_clinician)",
    "/v1/visit-slots": "free slots of a clinician (policy.may_see_clinician)",
    "/v1/visit-session/messages": "the chat of the join link's own visit (tests/visits)",
}


def test_every_collection_route_is_held_to_the_rules(app: FastAPI) -> None:
    """A new list route without a path parameter fails here until it is covered."""
    lists = {
        info.path
        for info in iter_routes(app)
        if info.method == "GET"
        and "{" not in info.path
        and isinstance(info.route, APIRoute)
        and _is_collection(info.route.response_model)
    }
    covered = {
        listing.path
        for listing in LISTINGS.values()
        if "{" not in listing.path and listing.service is None
    }
    assert lists == covered | NOT_RULED_LISTS.keys()


def _is_collection(model: Any) -> bool:
    return getattr(model, "__origin__", None) is list or "items" in getattr(
        model, "model_fields", {}
    )


@pytest.fixture(scope="module")
def seeded(app: FastAPI, client: TestClient, world: World) -> World:
    """Objects of every listed kind for patient A, patient B and the other organization's
    patient: a visit, a queued case, an enrollment with an alert, and the notifications they
    send; for patient A also a case clinician A holds and one they originated; grants on
    patient A (the cast's, and a reviewed one) and in the other organization.

    Patient B's clinician is clinician X, whose care then ends: what names them (the visit,
    the enrollment and its alert) stays theirs by the rule, so it stays on their lists."""
    services = services_of(app)
    _license_in_texas(world, "clinician_x", "other_clinician")
    sides = [
        world,
        recast(world, patient_a="patient_b", clinician_a="clinician_x"),
        other_org(world),
    ]
    for side in sides:
        book(services, side)  # the booking puts the clinician on the patient's care team
        build_case(side, "queued")
        enrollment = enroll(client, side)
        _, device = add_device(client, side, enrollment["id"])
        assert post(client, device, bp(190, 95, HIGH_READING_AT)).json()["alerts"]
    build_case(world, "claimed")
    with acting(services, world["clinician_a"]) as scope:
        review.create_case(scope, case_input(world["patient_a"].patient_id))
    reviewed = new_grant(world)
    answer = client.post(
        f"/v1/break-glass/{reviewed}/review",
        json={"outcome": "appropriate"},
        headers=world["admin"].headers,
    )
    assert answer.status_code == 200, answer.text
    with acting(services, world["other_clinician"]) as scope:
        theirs = world["other_patient"].patient_id
        assert theirs is not None
        access.break_glass(scope, theirs, "Unconscious patient in the emergency room")
    _end_care(app, world["clinician_x"], world["patient_b"], world.clock.now())
    return world


def _license_in_texas(world: World, *clinicians: str) -> None:
    """Clinician A's license for other clinicians, so that the rules let them see patients in
    Texas by video."""
    with scope_for(world.settings, world.clock) as scope:
        for key in clinicians:
            identity.add_license(
                scope,
                world[key].user_id,
                state="TX",
                kind=LicenseKind.FULL,
                number=f"TX-{key}",
                expires_on=None,
            )


def _end_care(app: FastAPI, clinician: Person, patient: Person, at: datetime) -> None:
    with services_of(app).sessions() as session, session.begin():
        session.execute(
            update(CareAssignment)
            .where(
                CareAssignment.clinician_id == clinician.user_id,
                CareAssignment.patient_id == patient.patient_id,
            )
            .values(ends_at=at)
        )


class Known:
    """What the world holds and what the rules let each person reach, asked once per module
    (the world does not change once seeded: the clock never moves here)."""

    def __init__(self, app: FastAPI, client: TestClient, seeded: World) -> None:
        self.app = app
        self.client = client
        self.seeded = seeded
        self._rows: dict[str, dict[uuid.UUID, Any]] = {}
        self._readable: dict[tuple[uuid.UUID, str], set[uuid.UUID]] = {}
        self._viewers: dict[uuid.UUID, Viewer] = {}

    def rows(self, kind: str) -> dict[uuid.UUID, Any]:
        """Every object of the kind in the world's database."""
        if kind not in self._rows:
            with services_of(self.app).sessions() as session:
                found = session.execute(select(KINDS[kind].table)).scalars().all()
                session.expunge_all()
            self._rows[kind] = {row.id: row for row in found}
        return self._rows[kind]

    def readable(self, person: Person, kind: str) -> set[uuid.UUID]:
        """The objects the read rule lets the person reach: through the kind's item route, or
        the loader for a kind without one."""
        key = (person.user_id, kind)
        if key not in self._readable:
            item = KINDS[kind].item
            ids = self.rows(kind)
            if item is None:
                reaches = self._passes(person, lambda scope, i: loader.load(scope, _kind(kind), i))
                self._readable[key] = {i for i in ids if reaches(i)}
            else:
                get = self.client.get
                self._readable[key] = {
                    i for i in ids if get(item.format(i), headers=person.headers).is_success
                }
        return self._readable[key]

    def viewer(self, person: Person) -> Viewer:
        """The person with the loader's care facts about every patient, and the cases review's
        claim gate lets them claim."""
        if person.user_id not in self._viewers:
            patients, cases = self.rows("patient"), self.rows("review_case")
            with acting(services_of(self.app), person) as scope:
                actor = scope.require_actor()
                facts = [access.facts_about(scope, actor, i) for i in patients]
            in_care = {f.patient_id for f in facts if f is not None and f.in_care_of_actor}
            on_panel = {
                i
                for i, row in self.rows("monitoring_enrollment").items()
                if person.role is not Role.CLINICIAN
                or row.patient_id in in_care
                or row.clinician_id == person.user_id
            }
            claims = self._passes(person, review.claimable_case)
            self._viewers[person.user_id] = Viewer(
                person, person.role, on_panel, {i for i in cases if claims(i)}
            )
        return self._viewers[person.user_id]

    def _passes(
        self, person: Person, check: Callable[[Scope, uuid.UUID], object]
    ) -> Callable[[uuid.UUID], bool]:
        """Whether ``check`` lets the person through for an id, each in a unit of work of its
        own (a refusal is audited durably, as in a request)."""

        def passes(object_id: uuid.UUID) -> bool:
            with acting(services_of(self.app), person) as scope:
                try:
                    check(scope, object_id)
                except DomainError:
                    return False
                return True

        return passes


def _kind(name: str) -> loader.Kind[object]:
    return loader.registered()[name]


@pytest.fixture(scope="module")
def known(app: FastAPI, client: TestClient, seeded: World) -> Known:
    return Known(app, client, seeded)


def _fetch(known: Known, person: Person, path: str, listing: Listing) -> tuple[int, list[Any]]:
    """The status of the list's first page and the ids on all its pages."""
    if listing.service is not None:
        return _serve(known, person, listing.service)
    params: dict[str, str | int] = dict(listing.params)
    if listing.paging is not None:
        params["limit"] = PAGE
    listed: list[Any] = []
    while True:
        response = known.client.get(path, params=params, headers=person.headers)
        if response.status_code != 200:
            assert not listed, response.text
            return response.status_code, []
        body = response.json()
        items = body["items"] if isinstance(body, dict) else body
        listed += [uuid.UUID(item[listing.key]) for item in items]
        if listing.paging == "offset" and len(items) == PAGE:
            params["offset"] = len(listed)
        elif listing.paging == "cursor" and body.get("next_cursor"):
            params["cursor"] = body["next_cursor"]
        else:
            return 200, listed


def _serve(
    known: Known, person: Person, service: Callable[[Scope], list[uuid.UUID]]
) -> tuple[int, list[Any]]:
    """A list read through its service, answered as its page would be."""
    with acting(services_of(known.app), person) as scope:
        try:
            return 200, list(service(scope))
        except DomainError as refused:
            code = refused.code
    assert code is ErrorCode.FORBIDDEN, code
    return 403, []


def _params() -> Iterator[Any]:
    for name in LISTINGS:
        for kind in ACTOR_KINDS:
            yield pytest.param(name, kind, id=f"{name}-{kind.name}")


@pytest.mark.parametrize(("name", "kind"), list(_params()))
def test_a_list_shows_what_the_read_rule_lets_its_actor_read(
    seeded: World, known: Known, name: str, kind: ActorKind
) -> None:
    listing = LISTINGS[name]
    person = seeded[kind.person]
    rows = known.rows(listing.kind)
    parent = PARENTS.get(listing.kind) if "{" in listing.path else None
    if parent is None:
        _check_list(known, kind, listing, listing.path, rows)
        return
    parents = known.rows(parent)
    readable_parents = known.readable(person, parent)
    of_parent = KINDS[listing.kind].parent
    assert of_parent is not None
    for parent_id in parents:
        path = listing.path.format(parent_id)
        if parent_id not in readable_parents:
            assert _fetch(known, person, path, listing)[0] == 404, (kind.name, path)
            continue
        children = {i: row for i, row in rows.items() if of_parent(row) == parent_id}
        _check_list(known, kind, listing, path, children)


def _check_list(
    known: Known,
    kind: ActorKind,
    listing: Listing,
    path: str,
    rows: dict[uuid.UUID, Any],
) -> None:
    person = known.seeded[kind.person]
    readable = known.readable(person, listing.kind)
    status, listed = _fetch(known, person, path, listing)
    if not kind.audiences & listing.audience:
        assert status == 403, (kind.name, path, status)
        return
    assert status == 200, (kind.name, path, status)
    assert len(listed) == len(set(listed)), f"{path} lists an object twice"
    if not listing.beyond_reading:
        hidden = set(listed) - readable
        assert not hidden, f"{kind.name}: {path} lists what the read rule hides: {hidden}"
    shown = rows.keys() if listing.beyond_reading else readable & rows.keys()
    expected = set(shown)
    if listing.narrower is not None:
        viewer = known.viewer(person)
        expected = {i for i in shown if listing.narrower(viewer, rows[i])}
    missing = expected - set(listed)
    assert not missing, f"{kind.name}: {path} leaves out what the rule lets them read: {missing}"
    extra = set(listed) - expected
    assert not extra, f"{kind.name}: {path} lists beyond its documented rule: {extra}"
