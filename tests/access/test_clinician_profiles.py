"""Who sees which part of a clinician's profile (``GET /v1/clinicians/{id}``)."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.support import World

pytestmark = pytest.mark.db

PUBLIC_FIELDS = {"user_id", "display_name", "specialties", "video_capable"}
CREDENTIALS = {"npi", "licenses", "compacts", "dea_registrations"}


@pytest.fixture
def credentialed(client: TestClient, world: World) -> str:
    """Clinician A with an NPI and a DEA registration besides the seeded Texas license."""
    clinician = str(world["clinician_a"].user_id)
    coordinator = world["coordinator"].headers
    assert (
        client.patch(
            f"/v1/clinicians/{clinician}", json={"npi": "1234567893"}, headers=coordinator
        ).status_code
        == 200
    )
    dea = {"state": "TX", "number": "AB1234563", "schedules": ["II"]}
    assert (
        client.post(
            f"/v1/clinicians/{clinician}/dea-registrations", json=dea, headers=coordinator
        ).status_code
        == 201
    )
    return clinician


@pytest.mark.parametrize("key", ["patient_a", "patient_b", "clinician_x"])
def test_patients_and_colleagues_see_only_the_public_profile(
    client: TestClient, world: World, credentialed: str, key: str
) -> None:
    response = client.get(f"/v1/clinicians/{credentialed}", headers=world[key].headers)
    assert response.status_code == 200
    assert set(response.json()) == PUBLIC_FIELDS
    assert response.json()["specialties"] == ["dermatology"]
    assert "TX-1" not in response.text
    assert "AB1234563" not in response.text
    assert "1234567893" not in response.text


@pytest.mark.parametrize("key", ["clinician_a", "coordinator", "admin"])
def test_the_clinician_and_org_managers_see_the_credentials(
    client: TestClient, world: World, credentialed: str, key: str
) -> None:
    response = client.get(f"/v1/clinicians/{credentialed}", headers=world[key].headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_FIELDS | CREDENTIALS
    assert body["npi"] == "1234567893"
    assert [lic["number"] for lic in body["licenses"]] == ["TX-1"]
    assert [dea["number"] for dea in body["dea_registrations"]] == ["AB1234563"]


@pytest.mark.parametrize("key", ["other_admin", "other_coordinator"])
def test_another_organizations_clinician_answers_as_a_missing_one(
    client: TestClient, world: World, credentialed: str, key: str
) -> None:
    headers = world[key].headers
    real = client.get(f"/v1/clinicians/{credentialed}", headers=headers)
    missing = client.get(f"/v1/clinicians/{uuid.uuid4()}", headers=headers)
    assert real.status_code == missing.status_code == 404
    assert real.json()["detail"] == missing.json()["detail"]


def test_openapi_documents_both_profile_shapes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schema = spec["paths"]["/v1/clinicians/{clinician_id}"]["get"]["responses"]["200"]
    shapes = {
        ref["$ref"].rsplit("/", 1)[1]
        for ref in schema["content"]["application/json"]["schema"]["anyOf"]
    }
    assert shapes == {"ClinicianOut", "ClinicianPublicOut"}
    public = spec["components"]["schemas"]["ClinicianPublicOut"]["properties"]
    assert set(public) == PUBLIC_FIELDS
