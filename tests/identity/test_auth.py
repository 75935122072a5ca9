"""Sign-in, MFA, session timeouts and token revocation (SQLite and PostgreSQL); throttling is
in test_throttle.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from telehealth.config import Settings
from tests.support import PASSWORD, World, login, seed_world, totp_now

pytestmark = pytest.mark.db


@pytest.fixture
def people(settings: Settings, clock: FrozenClock, app: object) -> World:
    return seed_world(settings, clock, with_passwords=True)


def _me(client: TestClient) -> int:
    return client.get("/v1/me").status_code


def test_patient_signs_in_with_password_and_reads_own_record(
    client: TestClient, people: World
) -> None:
    response = login(client, people["patient_a"].email)
    assert response.status_code == 200
    assert response.json()["role"] == "patient"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert client.get(f"/v1/patients/{people['patient_a'].patient_id}").status_code == 200


def test_wrong_password_and_unknown_email_look_the_same(client: TestClient, people: World) -> None:
    wrong = login(client, people["patient_a"].email, "not the password at all")
    unknown = login(client, "nobody@example.test", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_clinician_needs_totp_and_a_code_is_single_use(
    client: TestClient, people: World, clock: FrozenClock
) -> None:
    clinician = people["clinician_a"]
    assert clinician.totp_secret is not None
    without = login(client, clinician.email)
    assert without.status_code == 401
    assert without.json()["code"] == "mfa_required"
    assert "set-cookie" not in without.headers

    code = totp_now(clinician.totp_secret, clock)
    assert login(client, clinician.email, totp=code).status_code == 200
    replay = login(client, clinician.email, totp=code)
    assert replay.status_code == 401
    assert replay.json()["code"] == "mfa_invalid"


def test_admin_without_second_factor_gets_no_session(client: TestClient, people: World) -> None:
    response = login(client, people["admin"].email, totp="000000")
    assert response.status_code == 401
    assert _me(client) == 401


def test_password_only_session_of_mfa_role_reaches_no_phi(
    client: TestClient, people: World, settings: Settings, clock: FrozenClock
) -> None:
    from telehealth.identity import credentials
    from telehealth.identity.tables import LoginSession
    from tests.support import scope_for

    # A session row without MFA for a clinician can only exist through a fault; it must not work.
    token, digest = credentials.new_secret("ths")
    with scope_for(settings, clock) as scope:
        scope.session.add(
            LoginSession(
                user_id=people["clinician_a"].user_id,
                token_hash=digest,
                mfa_verified=False,
                credentials_epoch=0,
                created_at=clock.now(),
                last_seen_at=clock.now(),
                expires_at=clock.now() + timedelta(hours=1),
            )
        )
    client.cookies.set("th_session", token)
    response = client.get(f"/v1/patients/{people['patient_a'].patient_id}")
    assert response.status_code == 401
    assert response.json()["code"] == "mfa_required"


@pytest.mark.parametrize(("key", "idle_minutes"), [("patient_a", 30), ("clinician_a", 15)])
def test_idle_timeout_by_role(
    client: TestClient, people: World, clock: FrozenClock, key: str, idle_minutes: int
) -> None:
    person = people[key]
    code = totp_now(person.totp_secret, clock) if person.totp_secret else None
    assert login(client, person.email, totp=code).status_code == 200
    clock.advance(timedelta(minutes=idle_minutes) - timedelta(seconds=1))
    assert _me(client) == 200  # activity one second before the limit renews the session
    clock.advance(timedelta(minutes=idle_minutes) + timedelta(seconds=1))
    response = client.get("/v1/me")
    assert response.status_code == 401
    assert response.json()["code"] == "session_expired"


def test_absolute_timeout_despite_activity(
    client: TestClient, people: World, clock: FrozenClock, settings: Settings
) -> None:
    assert login(client, people["patient_a"].email).status_code == 200
    limit = timedelta(hours=settings.session_absolute_hours)
    elapsed = timedelta()
    while elapsed < limit - timedelta(minutes=20):
        clock.advance(timedelta(minutes=20))
        elapsed += timedelta(minutes=20)
        assert _me(client) == 200
    clock.advance(limit - elapsed - timedelta(seconds=1))
    assert _me(client) == 200
    clock.advance(timedelta(seconds=2))
    assert _me(client) == 401


def test_logout_revokes_the_session_cookie_replay(client: TestClient, people: World) -> None:
    response = login(client, people["patient_a"].email)
    cookie = response.cookies.get("th_session")
    assert cookie
    assert client.post("/v1/auth/logout").status_code == 204
    client.cookies.set("th_session", cookie)
    assert _me(client) == 401


def test_token_revocation_and_expiry(
    client: TestClient, people: World, clock: FrozenClock, settings: Settings
) -> None:
    patient = people["patient_a"]
    created = client.post(
        "/v1/tokens", json={"label": "phone", "minutes": 10}, headers=patient.headers
    )
    assert created.status_code == 201
    token = created.json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/me", headers=auth).status_code == 200
    assert client.delete(f"/v1/tokens/{created.json()['id']}", headers=auth).status_code == 204
    assert client.get("/v1/me", headers=auth).status_code == 401

    short = client.post("/v1/tokens", json={"minutes": 10}, headers=patient.headers).json()
    clock.advance(timedelta(minutes=10))
    assert (
        client.get("/v1/me", headers={"Authorization": f"Bearer {short['token']}"}).status_code
        == 401
    )


def test_another_users_token_cannot_be_revoked(client: TestClient, people: World) -> None:
    mine = client.post("/v1/tokens", json={}, headers=people["patient_a"].headers).json()
    response = client.delete(f"/v1/tokens/{mine['id']}", headers=people["patient_b"].headers)
    assert response.status_code == 404
    assert (
        client.get("/v1/me", headers={"Authorization": f"Bearer {mine['token']}"}).status_code
        == 200
    )


def test_password_change_revokes_every_session_and_token(client: TestClient, people: World) -> None:
    patient = people["patient_a"]
    assert login(client, patient.email).status_code == 200
    changed = client.post(
        "/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
    )
    assert changed.status_code == 204
    assert _me(client) == 401
    assert client.get("/v1/me", headers=patient.headers).status_code == 401


def test_role_change_is_audited_and_revokes_credentials(
    client: TestClient, people: World, clock: FrozenClock
) -> None:
    admin = people["admin"]
    target = people["coordinator"]
    response = client.put(
        f"/v1/users/{target.user_id}/role", json={"role": "patient"}, headers=admin.headers
    )
    assert response.status_code == 200
    assert client.get("/v1/me", headers=target.headers).status_code == 401
    audit = client.get(
        "/v1/audit", params={"action": "privilege_change"}, headers=admin.headers
    ).json()
    assert any(
        row["object_id"] == str(target.user_id) and row["detail"].get("to") == "patient"
        for row in audit
    )


def test_invite_link_is_random_single_use_and_in_the_fragment(
    client: TestClient, people: World, clock: FrozenClock
) -> None:
    coordinator = people["coordinator"]
    created = client.post(
        "/v1/users",
        json={"email": "new.patient@example.test", "display_name": "New", "role": "patient"},
        headers=coordinator.headers,
    )
    assert created.status_code == 201
    url = created.json()["invite_url"]
    assert "#token=" in url
    assert "?" not in url
    token = url.split("#token=")[1]
    assert len(token.removeprefix("thi_")) >= 22  # 128 bits in url-safe base64 needs 22 chars
    accept = {"token": token, "password": "my own long passphrase"}
    assert client.post("/v1/invites/accept", json=accept).status_code == 200
    assert client.post("/v1/invites/accept", json=accept).status_code == 401
    assert login(client, "new.patient@example.test", "my own long passphrase").status_code == 200


def test_coordinator_cannot_create_staff_accounts(client: TestClient, people: World) -> None:
    response = client.post(
        "/v1/users",
        json={"email": "x@example.test", "display_name": "X", "role": "admin"},
        headers=people["coordinator"].headers,
    )
    assert response.status_code == 403


def test_patient_can_enroll_in_optional_mfa(
    client: TestClient, people: World, clock: FrozenClock
) -> None:
    import pyotp

    patient = people["patient_a"]
    uri = client.post("/v1/me/mfa", headers=patient.headers).json()["provisioning_uri"]
    secret = pyotp.parse_uri(uri).secret
    assert (
        client.post(
            "/v1/me/mfa/confirm", json={"code": totp_now(secret, clock)}, headers=patient.headers
        ).status_code
        == 204
    )
    assert login(client, patient.email).json()["code"] == "mfa_required"
    clock.advance(timedelta(seconds=30))
    assert login(client, patient.email, totp=totp_now(secret, clock)).status_code == 200
