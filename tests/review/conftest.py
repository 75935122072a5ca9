"""Fixtures for review tests: extra reviewers beside the seeded world."""

from __future__ import annotations

import pytest

from telehealth.clock import FrozenClock
from telehealth.config import Settings
from tests.review.support import add_reviewer
from tests.support import World, scope_for


@pytest.fixture
def reviewers(world: World, settings: Settings, clock: FrozenClock) -> World:
    """derm_tx: dermatologist licensed in TX (not on patient A's care team); derm_ny: licensed
    only in NY; radiologist_tx: the wrong specialty."""
    with scope_for(settings, clock) as scope:
        add_reviewer(scope, world, "derm_tx", specialty="dermatology", state="TX")
        add_reviewer(scope, world, "derm_ny", specialty="dermatology", state="NY")
        add_reviewer(scope, world, "radiologist_tx", specialty="radiology", state="TX")
    return world
