"""Portal tests use a world that can sign in through the form."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from telehealth.clock import FrozenClock
from telehealth.config import Settings
from tests.support import World, seed_world


@pytest.fixture
def world(settings: Settings, clock: FrozenClock, app: FastAPI) -> World:
    return seed_world(settings, clock, with_passwords=True)
