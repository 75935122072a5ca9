"""The profile page: everyone chooses the time zone the pages show times in."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.identity.model import US_ZONES, time_zone_choices
from tests.support import World, login, seed_world

pytestmark = pytest.mark.db


@pytest.fixture
def signed_in(client: TestClient, settings: Settings, clock: FrozenClock) -> World:
    people = seed_world(settings, clock, with_passwords=True)
    assert login(client, people["patient_a"].email).status_code == 200
    return people


def _options(html: str) -> list[str]:
    return re.findall(r'<option value="([^"]*)"', html)


def test_the_zone_list_puts_the_united_states_first() -> None:
    us_zones, other_zones = time_zone_choices()
    assert us_zones[:2] == ("America/New_York", "America/Detroit")  # east to west
    assert "America/Los_Angeles" in us_zones
    assert "Europe/Paris" in other_zones
    assert not set(us_zones) & set(other_zones)
    # Canonical names only: no aliases ("US/Pacific") and no offsets without a place.
    assert not any(z.startswith(("Etc/", "posix/", "US/")) for z in (*us_zones, *other_zones))
    assert "UTC" not in other_zones


def test_a_person_chooses_their_zone_and_every_page_follows_it(
    client: TestClient, signed_in: World
) -> None:
    page = client.get("/profile")
    assert page.status_code == 200
    options = _options(page.text)
    assert options[0] == ""  # the browser's zone
    assert tuple(options[1 : 1 + len(US_ZONES)]) == time_zone_choices()[0]
    assert "Use my browser's time zone" in page.text
    assert "data-time-zone" not in page.text
    # The layout's user menu leads here.
    assert 'href="/profile"' in client.get("/").text

    saved = client.post(
        "/profile", data={"time_zone": "America/Los_Angeles"}, follow_redirects=False
    )
    assert saved.status_code == 303
    page = client.get("/profile?saved=1")
    assert 'data-time-zone="America/Los_Angeles"' in page.text
    assert '<option value="America/Los_Angeles" selected>' in page.text
    assert "Saved." in page.text
    # The server's own text (for browsers without scripts) is in that zone too: the frozen
    # clock's noon UTC is 04:00 in Los Angeles in November.
    assert re.search(r"<time [^>]*>Fri 27 Nov 2026, 04:00 PST</time>", page.text)
    home = client.get("/")
    assert 'data-time-zone="America/Los_Angeles"' in home.text

    back = client.post("/profile", data={"time_zone": ""}, follow_redirects=False)
    assert back.status_code == 303
    assert "data-time-zone" not in client.get("/profile").text


def test_a_zone_not_on_the_list_is_refused_beside_the_form(
    client: TestClient, signed_in: World
) -> None:
    client.post("/profile", data={"time_zone": "America/Chicago"})
    refused = client.post("/profile", data={"time_zone": "Mars/Olympus_Mons"})
    assert refused.status_code == 422
    assert "Choose a time zone from the list." in refused.text
    # What was typed is kept in the form; nothing was saved.
    assert '<option value="Mars/Olympus_Mons" selected>' in refused.text
    assert 'data-time-zone="America/Chicago"' in client.get("/profile").text
