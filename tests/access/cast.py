"""The twelve actor kinds' world, shared by the modules that probe every actor kind.

One seeded world (``seed_world(..., every_actor_kind=True)``) per database per module, with the
application and client on it. A module uses the fixtures by importing them under their own
names (``from tests.access.cast import cast_world as cast_world``); they are registered as
``world``, ``client``, ``app`` and so on, module-scoped, and shadow the per-test fixtures of
tests/conftest.py in that module only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Settings
from tests.conftest import START, fresh_database, settings_for
from tests.support import World, seed_world


@pytest.fixture(scope="module", params=["sqlite", "postgresql"], name="database_url")
def cast_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with fresh_database(request, tmp_path_factory.mktemp("cast")) as url:
        yield url


@pytest.fixture(scope="module", name="settings")
def cast_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return settings_for(database_url, tmp_path_factory.mktemp("cast-data"))


@pytest.fixture(scope="module", name="clock")
def cast_clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture(scope="module", name="app")
def cast_app(settings: Settings, clock: FrozenClock) -> Iterator[FastAPI]:
    application = create_app(settings, clock=clock)
    yield application
    application.state.services.engine.dispose()


@pytest.fixture(scope="module", name="client")
def cast_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module", name="world")
def cast_world(settings: Settings, clock: FrozenClock, app: FastAPI) -> World:
    return seed_world(settings, clock, every_actor_kind=True)


def recast(world: World, **parts: str) -> World:
    """The world with some people playing others' parts (``patient_a="patient_b"``), so a
    helper written for patient A, clinician A and their managers makes another's object."""
    people = {**world.people, **{part: world[actor] for part, actor in parts.items()}}
    return replace(world, people=people)


def other_org(world: World) -> World:
    """The world from the other organization's side: its patient, clinician and managers play
    patient A's, clinician A's and theirs."""
    theirs = recast(
        world,
        patient_a="other_patient",
        clinician_a="other_clinician",
        coordinator="other_coordinator",
        admin="other_admin",
    )
    return replace(theirs, org_id=world.other_org_id, other_org_id=world.org_id)
