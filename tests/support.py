"""Test helpers: a seeded world of two organizations, patients, clinicians and their tokens."""

from __future__ import annotations

import asyncio
import functools
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta

import pyotp
from fastapi.testclient import TestClient

from telehealth.access import service as access
from telehealth.audit.committer import make_committer
from telehealth.audit.keys import chain_keys
from telehealth.bootstrap import bootstrap, bootstrap_for_tests
from telehealth.clock import Clock, FrozenClock
from telehealth.coding.codeset import CodeSet
from telehealth.coding.loader import default_codeset
from telehealth.config import Settings
from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.db.reader import make_reader
from telehealth.identity import credentials
from telehealth.identity import service as identity
from telehealth.identity.model import Actor, CareSource, CredentialKind, LicenseKind, Role
from telehealth.policy.loader import RuleSet, load_ruleset
from telehealth.ports import Ports
from telehealth.scope import Scope, open_scope
from telehealth.visits.runtime import VisitsRuntime
from telehealth.web.scoped import Services

PASSWORD = "correct horse battery staple"
# Hashed once per run: seeding a world must not pay for argon2 eight times per test.
_PASSWORD_HASH = credentials.hash_password(PASSWORD)


@dataclass
class Person:
    user_id: uuid.UUID
    email: str
    role: Role
    token: str
    patient_id: uuid.UUID | None = None
    totp_secret: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@functools.cache
def compiled_rules() -> tuple[RuleSet, CodeSet]:
    """The repository's rule and code sets, compiled once for the whole run (they are
    immutable) rather than by every application a test builds."""
    return load_ruleset(), default_codeset()


def real_ports(settings: Settings, clock: Clock) -> Ports:
    """The ports ``bootstrap`` makes of ``settings`` (blobs on disk, SMTP, Redis when set)."""
    ruleset, codeset = compiled_rules()
    return bootstrap(settings, clock=clock, ruleset=ruleset, codeset=codeset)


def memory_ports(settings: Settings, clock: Clock) -> Ports:
    """The in-memory twins of the ports (``bootstrap_for_tests``)."""
    ruleset, codeset = compiled_rules()
    return bootstrap_for_tests(settings, clock, ruleset=ruleset, codeset=codeset)


@dataclass
class World:
    """The seeded people; ``settings``, ``clock`` and ``ports`` (the application's, when the
    world is seeded for one) let matrix targets create objects with services
    (``with scope_for(world.settings, world.clock) as scope: ...``)."""

    org_id: uuid.UUID
    other_org_id: uuid.UUID
    settings: Settings
    clock: FrozenClock
    ports: Ports
    people: dict[str, Person] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Person:
        return self.people[key]


@contextmanager
def scope_for(
    settings: Settings, clock: FrozenClock, ports: Ports | None = None
) -> Iterator[Scope]:
    """An operator unit of work, committed on success; its engine is disposed afterwards. Its
    ports are ``ports``, or in-memory ones on ``settings`` and ``clock``."""
    engine = make_engine(settings.effective_database_url)
    scope = open_scope(
        make_sessionmaker(engine), ports or memory_ports(settings, clock), request_id="test"
    )
    try:
        yield scope
        scope.uow.commit()
    finally:
        scope.uow.close()
        engine.dispose()


def seed_world(
    settings: Settings,
    clock: FrozenClock,
    *,
    ports: Ports | None = None,
    with_passwords: bool = False,
    every_actor_kind: bool = False,
) -> World:
    """patient_a, patient_b, clinician_a (cares for A), clinician_x (cares for nobody),
    coordinator, admin, and in another organization: other_admin, other_coordinator.

    ``every_actor_kind`` adds the rest of the access matrix's cast (tests/access/audience.py):
    other_patient and other_clinician in the other organization, clinician_glass holding an
    active break-glass grant on patient A and clinician_glass_expired holding an expired one.
    It is opt-in because tests counting grants, users or patients expect the smaller world.

    The world keeps ``ports`` (pass the application's) or real ones on ``settings``, whose
    blobs on disk a server on the same settings shares."""
    with scope_for(settings, clock, ports or real_ports(settings, clock)) as scope:
        world = _seed(scope, with_passwords)
    if every_actor_kind:
        _seed_every_actor_kind(world, with_passwords)
    return world


def _seed(scope: Scope, with_passwords: bool) -> World:
    org = identity.create_organization(scope, "Test Clinic")
    other = identity.create_organization(scope, "Other Clinic")
    world = World(
        org_id=org.id,
        other_org_id=other.id,
        settings=scope.settings,
        clock=scope.clock,  # type: ignore[arg-type]
        ports=scope.ports,
    )

    person = _person_maker(scope, world, with_passwords)

    for key in ("patient_a", "patient_b"):
        p = person(key, Role.PATIENT, org.id)
        patient = identity.create_patient(
            scope,
            org_id=org.id,
            given_name=f"Canary{key[-1].upper()}",
            family_name=f"Secret{key[-1].upper()}",
            birth_date=date(1970, 1, 1),
            home_state="TX",
            user_id=p.user_id,
        )
        p.patient_id = patient.id
    clinician_a = person("clinician_a", Role.CLINICIAN, org.id)
    person("clinician_x", Role.CLINICIAN, org.id)
    identity.set_clinician_profile(scope, clinician_a.user_id, specialties=["dermatology"])
    identity.add_license(
        scope,
        clinician_a.user_id,
        state="TX",
        kind=LicenseKind.FULL,
        number="TX-1",
        expires_on=None,
    )
    identity.assign_care(
        scope,
        clinician_a.user_id,
        world["patient_a"].patient_id,  # type: ignore[arg-type]
        source=CareSource.COORDINATOR,
        granted_by=None,
    )
    person("coordinator", Role.COORDINATOR, org.id)
    person("admin", Role.ADMIN, org.id)
    person("other_admin", Role.ADMIN, other.id)
    person("other_coordinator", Role.COORDINATOR, other.id)
    return world


def _person_maker(
    scope: Scope, world: World, with_passwords: bool
) -> Callable[[str, Role, uuid.UUID], Person]:
    """Creates a user with a long-lived MFA-verified token and adds them to the world."""

    def person(key: str, role: Role, org_id: uuid.UUID) -> Person:
        created = identity.create_user(
            scope,
            org_id=org_id,
            email=f"{key}@example.test",
            role=role,
            display_name=key,
            password=None,
        )
        if with_passwords:
            created.user.password_hash = _PASSWORD_HASH
        token = identity.issue_token(
            scope, created.user, label="test", minutes=None, mfa_verified=True
        )
        p = Person(
            created.user.id, created.user.email, role, token.secret, totp_secret=created.totp_secret
        )
        world.people[key] = p
        return p

    return person


def _seed_every_actor_kind(world: World, with_passwords: bool) -> None:
    with scope_for(world.settings, world.clock) as scope:
        person = _person_maker(scope, world, with_passwords)
        other_patient = person("other_patient", Role.PATIENT, world.other_org_id)
        other_patient.patient_id = identity.create_patient(
            scope,
            org_id=world.other_org_id,
            given_name="CanaryO",
            family_name="SecretO",
            birth_date=date(1970, 1, 1),
            home_state="TX",
            user_id=other_patient.user_id,
        ).id
        person("other_clinician", Role.CLINICIAN, world.other_org_id)
        person("clinician_glass", Role.CLINICIAN, world.org_id)
        person("clinician_glass_expired", Role.CLINICIAN, world.org_id)
    _grant_break_glass(world, "clinician_glass", world.clock)
    # A grant taken just over its lifetime before the world's present has expired by now.
    lifetime = timedelta(minutes=world.settings.break_glass_minutes, seconds=1)
    _grant_break_glass(world, "clinician_glass_expired", FrozenClock(world.clock.now() - lifetime))


def _grant_break_glass(world: World, key: str, clock: FrozenClock) -> None:
    clinician = world[key]
    with scope_for(world.settings, clock) as scope:
        scope.act_as(
            Actor(
                clinician.user_id, Role.CLINICIAN, world.org_id, None, True, CredentialKind.SYSTEM
            )
        )
        patient_id = world["patient_a"].patient_id
        assert patient_id is not None
        access.break_glass(scope, patient_id, "Unconscious patient in the emergency room")


def totp_now(secret: str, clock: FrozenClock, offset_steps: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(clock.now(), counter_offset=offset_steps)


def login(client: TestClient, email: str, password: str = PASSWORD, totp: str | None = None):  # type: ignore[no-untyped-def]
    body: dict[str, str] = {"email": email, "password": password}
    if totp:
        body["totp"] = totp
    return client.post("/v1/auth/login", json=body)


@contextmanager
def services_for(world: World) -> Iterator[Services]:
    """Services on the world's own database, for matrix targets that receive only the world."""
    engine = make_engine(world.settings.effective_database_url)
    reader = make_reader(engine, pool_size=2)
    group = make_committer(engine, reader, chain_keys(world.settings).current)
    try:
        yield Services(
            ports=world.ports,
            engine=engine,
            sessions=make_sessionmaker(engine),
            audit_group=group,
            reader=reader,
            visits=VisitsRuntime(settings=world.settings.visits, hub=world.ports.hub),
        )
    finally:
        asyncio.run(group.close())
        asyncio.run(reader.close())
        engine.dispose()


def post_form(
    client: TestClient, world: World, key: str, path: str, data: dict[str, str] | None = None
) -> tuple[int, str]:
    """A page's form post by the world's person ``key``: the status and the page answered."""
    response = client.post(
        path, data=data or {}, headers=world[key].headers, follow_redirects=False
    )
    return response.status_code, response.text


# UUIDs and request ids are random hex: any digits a test looks for can turn up inside one.
_IDENTIFIERS = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}"
    # Patients' record numbers (identity.model.new_record_number): random, so digits too.
    r"|\b[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\b"
)


def without_identifiers(text: str) -> str:
    """The text with every UUID, request id and record number blanked, for asserting a value
    is never echoed."""
    return _IDENTIFIERS.sub("<id>", text)
