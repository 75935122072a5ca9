"""Helpers for portal tests: sessions for page requests, the intake form."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support import PASSWORD, World, totp_now

# A visit of tests/visits/support.book is with a dermatologist, so its intake takes the skin
# lesion questionnaire.
INTAKE_FORM = {
    "reason": "Itchy rash on my arm for two weeks",
    "q_body_site": "arm",
    "q_duration": "1_to_4_weeks",
    "q_changed": "no",
    "q_symptoms": "itch",
    "q_lesion_count": "1",
}


def sign_in(client: TestClient, world: World, key: str) -> None:
    """A browser-style sign-in through the form (the seeded world has password hashes)."""
    person = world[key]
    code = totp_now(person.totp_secret, world.clock) if person.totp_secret else ""
    client.cookies.clear()
    response = client.post(
        "/login",
        data={"email": person.email, "password": PASSWORD, "totp": code},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
