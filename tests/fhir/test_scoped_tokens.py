"""API tokens limited to SMART scopes: made with ``POST /v1/tokens``, honoured by the FHIR API on
the fast bearer path and the ordinary one, refused on the native API (ADR 0021)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.db.engine import make_engine
from telehealth.db.reader import make_reader
from telehealth.identity import service as identity
from telehealth.identity.fast import bearer_actor
from telehealth.identity.model import Actor, CredentialKind
from tests.fhir.support import fhir_get, outcome_code, valid_r4
from tests.monitoring.helpers import add_device, enroll, post, reading
from tests.support import Person, World, scope_for

HOUR = timedelta(hours=1)


def scoped_token(client: TestClient, person: Person, scopes: str) -> Person:
    """``person`` holding a new token limited to ``scopes``."""
    response = client.post(
        "/v1/tokens", json={"label": "smart", "scopes": scopes}, headers=person.headers
    )
    assert response.status_code == 201, response.text
    return Person(
        user_id=person.user_id,
        email=person.email,
        role=person.role,
        token=response.json()["token"],
        patient_id=person.patient_id,
    )


def test_a_patient_token_with_patient_scopes_reads_their_own_record(
    client: TestClient, world: World
) -> None:
    patient = scoped_token(client, world["patient_a"], "openid patient/*.rs")
    read = fhir_get(client, patient, f"Patient/{patient.patient_id}")
    assert read.status_code == 200
    valid_r4(read.json())
    found = fhir_get(client, patient, "Patient")
    assert found.status_code == 200
    bundle = found.json()
    valid_r4(bundle)
    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(patient.patient_id)]


def test_a_token_without_the_type_in_its_scopes_is_refused_with_an_operation_outcome(
    client: TestClient, world: World
) -> None:
    patient = scoped_token(client, world["patient_a"], "patient/Observation.rs")
    search = fhir_get(client, patient, "Patient")
    read = fhir_get(client, patient, f"Patient/{patient.patient_id}")
    assert search.status_code == read.status_code == 403
    assert outcome_code(search) == outcome_code(read) == "forbidden"
    # Read but not search: a search is refused, a read allowed.
    reader = scoped_token(client, world["patient_a"], "patient/Patient.r")
    assert fhir_get(client, reader, f"Patient/{reader.patient_id}").status_code == 200
    assert fhir_get(client, reader, "Patient").status_code == 403


def test_user_scopes_hold_for_staff_and_patient_scopes_do_not(
    client: TestClient, world: World
) -> None:
    patient_id = world["patient_a"].patient_id
    clinician = scoped_token(client, world["clinician_a"], "user/Patient.rs")
    assert fhir_get(client, clinician, f"Patient/{patient_id}").status_code == 200
    narrow = scoped_token(client, world["clinician_a"], "patient/*.rs")
    refused = fhir_get(client, narrow, f"Patient/{patient_id}")
    assert refused.status_code == 403
    assert outcome_code(refused) == "forbidden"
    # Scopes never widen: a user/ scope still meets the access rule.
    other = fhir_get(client, clinician, f"Patient/{world['patient_b'].patient_id}")
    assert other.status_code == 404


@pytest.mark.parametrize(
    "scopes",
    [
        "patient/Unicorn.rs",
        "patient/Patient.xyz",
        "patient/Patient.sr",
        "system/*.rs",
        "nonsense",
        "openid",
        "",
    ],
)
def test_unknown_or_malformed_scopes_are_refused_naming_the_field(
    client: TestClient, world: World, scopes: str
) -> None:
    response = client.post(
        "/v1/tokens", json={"scopes": scopes}, headers=world["patient_a"].headers
    )
    assert response.status_code == 422
    assert "scopes" in response.text


def test_tokens_list_their_scopes(client: TestClient, world: World) -> None:
    scoped_token(client, world["patient_a"], "patient/Patient.rs  patient/Patient.rs openid")
    listed = client.get("/v1/tokens", headers=world["patient_a"].headers).json()
    assert sorted(t["scopes"] or "" for t in listed) == ["", "patient/Patient.rs openid"]


def test_a_scoped_token_is_refused_on_the_native_api(client: TestClient, world: World) -> None:
    patient = scoped_token(client, world["patient_a"], "patient/*.rs")
    # The patient read has a fast lane of its own; a scoped token is refused on both paths.
    native = client.get(f"/v1/patients/{patient.patient_id}", headers=patient.headers)
    tokens = client.get("/v1/tokens", headers=patient.headers)
    assert native.status_code == tokens.status_code == 403
    assert "FHIR" in tokens.json()["detail"]
    unscoped = client.get(f"/v1/patients/{patient.patient_id}", headers=world["patient_a"].headers)
    assert unscoped.status_code == 200


def test_the_fast_bearer_path_carries_the_scopes(
    client: TestClient, world: World, settings: Settings, clock: FrozenClock
) -> None:
    patient = scoped_token(client, world["patient_a"], "patient/Patient.rs")
    engine = make_engine(settings.effective_database_url)

    async def look() -> list[Actor | None]:
        reader = make_reader(engine, pool_size=1)
        try:
            return [
                await bearer_actor(reader, patient.token, clock.now(), scoped=True),
                await bearer_actor(reader, patient.token, clock.now()),
                await bearer_actor(reader, world["patient_a"].token, clock.now()),
            ]
        finally:
            await reader.close()

    try:
        on_fhir, elsewhere, unscoped = asyncio.run(look())
    finally:
        engine.dispose()
    assert on_fhir is not None
    assert on_fhir.scopes == "patient/Patient.rs"
    assert on_fhir.credential is CredentialKind.TOKEN
    assert elsewhere is None  # the ordinary path then refuses it, saying why
    assert unscoped is not None
    assert unscoped.scopes is None
    with scope_for(settings, clock) as scope:
        slow = identity.resolve_token(scope, patient.token)
    assert slow.scopes == on_fhir.scopes


def test_a_revoked_scoped_token_stops_working(client: TestClient, world: World) -> None:
    patient = scoped_token(client, world["patient_a"], "patient/*.rs")
    listed = client.get("/v1/tokens", headers=world["patient_a"].headers).json()
    token_id = next(t["id"] for t in listed if t["scopes"])
    revoked = client.delete(f"/v1/tokens/{token_id}", headers=world["patient_a"].headers)
    assert revoked.status_code == 204
    assert fhir_get(client, patient, "Patient").status_code == 401


def test_patient_scopes_cover_the_types_they_name_and_no_other(
    client: TestClient, world: World
) -> None:
    enrollment = enroll(client, world)
    _device_id, device = add_device(client, world, enrollment["id"])
    sent = post(client, device, [reading("8867-4", 72, "/min", world.clock.now() - HOUR)])
    assert sent.status_code == 200, sent.text
    everything = scoped_token(client, world["patient_a"], "patient/*.rs")
    found = fhir_get(client, everything, "Observation", patient=f"Patient/{everything.patient_id}")
    assert found.status_code == 200
    bundle = found.json()
    valid_r4(bundle)
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Observation"]
    observations = scoped_token(client, world["patient_a"], "patient/Observation.rs")
    assert fhir_get(client, observations, "Observation").status_code == 200
    patient_only = scoped_token(client, world["patient_a"], "patient/Patient.rs")
    refused = fhir_get(client, patient_only, "Observation")
    assert refused.status_code == 403
    assert outcome_code(refused) == "forbidden"
    assert fhir_get(client, patient_only, f"Patient/{patient_only.patient_id}").status_code == 200
