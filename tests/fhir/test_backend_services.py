"""SMART Backend Services: an administrator registers a system client with its public keys; the
client signs an assertion, gets a five-minute token limited to its system scopes, and reads
through the one access rule and audit as its service account."""

from __future__ import annotations

import functools
import json
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select
from typer.testing import CliRunner

from telehealth.audit.tables import AuditRow
from telehealth.cli import app as cli
from telehealth.errors import DomainError
from telehealth.fhir.clients import ASSERTION_TYPE
from telehealth.identity import queries as identity_queries
from telehealth.identity import service as identity
from telehealth.identity.model import CredentialKind
from tests.fhir.support import valid_r4
from tests.fhir.test_bulk import exported, kick_off, manifest, run_jobs, status_path
from tests.support import World, scope_for


@functools.cache
def rsa_key(kid: str = "rsa-1") -> RSAKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return RSAKey.import_key(pem, parameters={"kid": kid})


@functools.cache
def ec_key(kid: str = "ec-1") -> ECKey:
    private = ec.generate_private_key(ec.SECP384R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return ECKey.import_key(pem, parameters={"kid": kid})


def register(
    client: TestClient,
    world: World,
    scopes: str = "system/Patient.rs",
    keys: tuple[RSAKey | ECKey, ...] = (),
) -> dict[str, Any]:
    jwks = {"keys": [k.as_dict(private=False) for k in keys or (rsa_key(),)]}
    response = client.post(
        "/v1/fhir/clients",
        json={"name": "County registry", "jwks": jwks, "scopes": scopes},
        headers=world["admin"].headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def token_url(client: TestClient) -> str:
    config = client.get("/fhir/R4/.well-known/smart-configuration").json()
    return str(config["token_endpoint"])


def assertion(
    world: World,
    client_id: str,
    aud: str,
    *,
    key: RSAKey | ECKey | None = None,
    alg: str = "RS384",
    kid: str | None = None,
    lifetime: timedelta = timedelta(minutes=4),
    jti: str | None = None,
    **claims: Any,
) -> str:
    key = key or rsa_key()
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": int((world.clock.now() + lifetime).timestamp()),
        "jti": jti or uuid.uuid4().hex,
        **claims,
    }
    header = {"alg": alg, "kid": kid or key.kid, "typ": "JWT"}
    return jwt.encode(header, body, key, algorithms=[alg])


def ask(client: TestClient, signed: str, scope: str = "system/*.rs") -> Any:
    return client.post(
        "/fhir/R4/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
            "scope": scope,
        },
    )


def test_the_smart_configuration_and_capability_statement_name_the_token_endpoint(
    client: TestClient,
) -> None:
    config = client.get("/fhir/R4/.well-known/smart-configuration")
    assert config.status_code == 200
    body = config.json()
    assert body["token_endpoint"].endswith("/fhir/R4/auth/token")
    assert body["grant_types_supported"] == ["client_credentials"]
    assert body["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert body["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert {"client-confidential-asymmetric", "permission-v2"} <= set(body["capabilities"])
    assert "system/Patient.rs" in body["scopes_supported"]
    statement = client.get("/fhir/R4/metadata").json()
    valid_r4(statement)
    (oauth,) = statement["rest"][0]["security"]["extension"]
    assert oauth["extension"] == [{"url": "token", "valueUri": body["token_endpoint"]}]


def test_a_registered_client_gets_a_token_and_searches_patients_as_its_service_account(
    client: TestClient, world: World
) -> None:
    registered = register(client, world)
    url = token_url(client)
    answer = ask(client, assertion(world, registered["id"], url))
    assert answer.status_code == 200, answer.text
    granted = answer.json()
    assert granted["token_type"] == "bearer"
    assert granted["expires_in"] == 300
    # requested system/*.rs, registered system/Patient.rs: the narrower of the two
    assert granted["scope"] == "system/Patient.rs"
    assert answer.headers["cache-control"] == "no-store"
    headers = {"Authorization": f"Bearer {granted['access_token']}"}
    found = client.get("/fhir/R4/Patient", headers=headers)
    assert found.status_code == 200
    bundle = found.json()
    valid_r4(bundle)
    ids = {e["resource"]["id"] for e in bundle["entry"]}
    assert str(world["patient_a"].patient_id) in ids
    assert str(world["patient_b"].patient_id) in ids  # the organization's patients
    # The service account reads the one way: every emitted resource audited, naming it.
    with scope_for(world.settings, world.clock) as scope:
        rows = (
            scope.session.execute(
                select(AuditRow).where(
                    AuditRow.object_type == "patient",
                    AuditRow.object_id == str(world["patient_a"].patient_id),
                    AuditRow.action == "read",
                )
            )
            .scalars()
            .all()
        )
        account = identity_queries.user_by_id(scope.session, uuid.UUID(registered["user_id"]))
        assert account is not None
        assert account.system_client
        assert account.password_hash is None
        actor = identity.resolve_token(scope, granted["access_token"])
    assert uuid.UUID(registered["user_id"]) in {row.actor_id for row in rows}
    assert actor.credential is CredentialKind.CLIENT
    # A client's token is for the FHIR API only.
    assert client.get("/v1/tokens", headers=headers).status_code == 403


def test_an_ec_key_signs_with_es384(client: TestClient, world: World) -> None:
    registered = register(client, world, keys=(ec_key(), rsa_key()))
    signed = assertion(world, registered["id"], token_url(client), key=ec_key(), alg="ES384")
    assert ask(client, signed).status_code == 200
    # The algorithm must fit the key the kid names.
    mismatched = assertion(
        world, registered["id"], token_url(client), key=rsa_key(), alg="RS384", kid="ec-1"
    )
    refused = ask(client, mismatched)
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"aud": "https://elsewhere.example/token"}, 400, "invalid_grant"),
        ({"lifetime": timedelta(seconds=-1)}, 400, "invalid_grant"),
        ({"lifetime": timedelta(minutes=6)}, 400, "invalid_grant"),
        ({"kid": "no-such-key"}, 401, "invalid_client"),
        ({"alg": "RS256"}, 401, "invalid_client"),
        ({"sub": "someone-else"}, 400, "invalid_grant"),
        ({"nbf": 2**33}, 400, "invalid_grant"),
        ({"iss": str(uuid.UUID(int=7))}, 401, "invalid_client"),
        ({"key": "other"}, 401, "invalid_client"),
    ],
)
def test_bad_assertions_are_refused(
    client: TestClient, world: World, change: dict[str, Any], status: int, error: str
) -> None:
    registered = register(client, world)
    url = token_url(client)
    change = dict(change)  # the parameter is shared by both databases' runs
    if change.get("key") == "other":
        change = {"key": rsa_key("other")}
        change["kid"] = rsa_key().kid  # claims the registered key, signed by another
    aud = change.pop("aud", url)
    signed = assertion(world, registered["id"], aud, **change)
    refused = ask(client, signed)
    assert refused.status_code == status
    assert refused.json()["error"] == error
    assert "access_token" not in refused.text


def test_a_replayed_assertion_is_refused(client: TestClient, world: World) -> None:
    registered = register(client, world)
    signed = assertion(world, registered["id"], token_url(client))
    assert ask(client, signed).status_code == 200
    again = ask(client, signed)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    # A fresh jti is a fresh assertion.
    assert ask(client, assertion(world, registered["id"], token_url(client))).status_code == 200


def test_scopes_the_client_was_not_registered_for_are_refused(
    client: TestClient, world: World
) -> None:
    registered = register(client, world, scopes="system/Patient.r")
    signed = assertion(world, registered["id"], token_url(client))
    refused = ask(client, signed, scope="system/Observation.rs patient/*.rs")
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_scope")
    # Read only: a search with a token for system/Patient.r is refused.
    granted = ask(client, assertion(world, registered["id"], token_url(client))).json()
    assert granted["scope"] == "system/Patient.r"
    headers = {"Authorization": f"Bearer {granted['access_token']}"}
    assert client.get("/fhir/R4/Patient", headers=headers).status_code == 403


def test_a_revoked_client_is_refused_and_its_tokens_stop(client: TestClient, world: World) -> None:
    registered = register(client, world)
    url = token_url(client)
    granted = ask(client, assertion(world, registered["id"], url)).json()
    headers = {"Authorization": f"Bearer {granted['access_token']}"}
    assert client.get("/fhir/R4/Patient", headers=headers).status_code == 200
    revoked = client.post(
        f"/v1/fhir/clients/{registered['id']}/revoke", headers=world["admin"].headers
    )
    assert revoked.status_code == 200
    assert revoked.json()["revoked"] is True
    refused = ask(client, assertion(world, registered["id"], url))
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    assert client.get("/fhir/R4/Patient", headers=headers).status_code == 401
    with scope_for(world.settings, world.clock) as scope:
        events = {
            (row.action, (row.detail or {}).get("event"))
            for row in scope.session.execute(
                select(AuditRow).where(
                    AuditRow.object_type == "fhir_client",
                    AuditRow.object_id == registered["id"],
                )
            ).scalars()
        }
    assert {("create", "registered"), ("update", "revoked")} <= events
    assert ("login", None) in events  # the refused assertion


def test_malformed_requests_are_oauth_errors(client: TestClient, world: World) -> None:
    wrong_grant = client.post("/fhir/R4/auth/token", data={"grant_type": "password"})
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (
        400,
        "unsupported_grant_type",
    )
    missing = client.post(
        "/fhir/R4/auth/token",
        data={"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE},
    )
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    garbage = ask(client, "not.a.jwt")
    assert (garbage.status_code, garbage.json()["error"]) == (401, "invalid_client")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": "patient/*.rs"}, "scopes"),
        ({"scopes": "system/Unicorn.rs"}, "scopes"),
        ({"jwks": {"keys": []}}, "jwks"),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}]}}, "jwks"),
        ({"private": True}, "jwks"),
    ],
)
def test_registration_refuses_bad_scopes_and_keys(
    client: TestClient, world: World, body: dict[str, Any], field: str
) -> None:
    good: dict[str, Any] = {
        "name": "Lab",
        "jwks": {"keys": [rsa_key().as_dict(private=False)]},
        "scopes": "system/*.rs",
    }
    if body.pop("private", False):
        body["jwks"] = {"keys": [rsa_key().as_dict(private=True)]}
    response = client.post(
        "/v1/fhir/clients", json={**good, **body}, headers=world["admin"].headers
    )
    assert response.status_code == 422
    assert field in response.text


def test_only_the_organizations_administrators_manage_its_clients(
    client: TestClient, world: World
) -> None:
    registered = register(client, world)
    listed = client.get("/v1/fhir/clients", headers=world["admin"].headers).json()
    assert [c["id"] for c in listed] == [registered["id"]]
    assert client.get("/v1/fhir/clients", headers=world["other_admin"].headers).json() == []
    assert client.get("/v1/fhir/clients", headers=world["coordinator"].headers).status_code == 403
    other = client.post(
        f"/v1/fhir/clients/{registered['id']}/revoke", headers=world["other_admin"].headers
    )
    assert other.status_code == 404


def test_a_client_account_takes_no_invite(client: TestClient, world: World) -> None:
    registered = register(client, world)
    with scope_for(world.settings, world.clock) as scope:
        admin = identity_queries.user_by_id(scope.session, world["admin"].user_id)
        assert admin is not None
        scope.act_as(identity.system_actor_for(scope, admin))
        with pytest.raises(DomainError):
            identity.create_invite(scope, uuid.UUID(registered["user_id"]))


def test_the_cli_adds_lists_and_revokes_clients(
    client: TestClient, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEHEALTH_DATABASE_URL", world.settings.effective_database_url)
    monkeypatch.setenv("TELEHEALTH_DATA_DIR", str(tmp_path / "data"))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [rsa_key().as_dict(private=False)]}))
    admin = world["admin"].email
    runner = CliRunner()
    added = runner.invoke(
        cli,
        [
            *("fhir", "clients", "add", "--admin", admin, "--name", "Lab"),
            *("--jwks", str(jwks), "--scopes", "system/Patient.rs"),
        ],
    )
    assert added.exit_code == 0, added.output
    client_id = added.output.strip()
    listed = runner.invoke(cli, ["fhir", "clients", "list", "--admin", admin])
    assert listed.exit_code == 0, listed.output
    assert client_id in listed.output
    via_api = client.get("/v1/fhir/clients", headers=world["admin"].headers).json()
    assert [c["id"] for c in via_api] == [client_id]
    revoked = runner.invoke(cli, ["fhir", "clients", "revoke", client_id, "--admin", admin])
    assert revoked.exit_code == 0, revoked.output
    assert client.get("/v1/fhir/clients", headers=world["admin"].headers).json()[0]["revoked"]
    not_admin = runner.invoke(
        cli, ["fhir", "clients", "list", "--admin", world["coordinator"].email]
    )
    assert not_admin.exit_code == 1


def test_a_backend_client_runs_a_bulk_export_with_its_token(
    app: FastAPI, client: TestClient, world: World
) -> None:
    registered = register(client, world, scopes="system/Patient.rs system/Observation.rs")
    answer = ask(client, assertion(world, registered["id"], token_url(client)))
    assert answer.status_code == 200, answer.text
    system = SimpleNamespace(headers={"Authorization": f"Bearer {answer.json()['access_token']}"})
    outside_its_scopes = kick_off(client, system, _type="Patient,Encounter")  # type: ignore[arg-type]
    assert outside_its_scopes.status_code == 403
    path = status_path(kick_off(client, system, _type="Patient,Observation"))  # type: ignore[arg-type]
    run_jobs(app)
    body = manifest(client, system, path)  # type: ignore[arg-type]
    resources = exported(client, system, body)  # type: ignore[arg-type]
    for resource in resources:
        valid_r4(resource)
    patients = {r["id"] for r in resources if r["resourceType"] == "Patient"}
    assert {str(world["patient_a"].patient_id), str(world["patient_b"].patient_id)} <= patients
    # Without the token, the files are nobody's.
    first = body["output"][0]["url"].removeprefix("http://testserver")
    assert client.get(first).status_code == 401
