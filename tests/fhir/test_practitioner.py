"""Practitioner, PractitionerRole and Organization: the organization's clinicians and the
organization itself, through the clinician-profile rule (credentials only for their readers),
R4-valid, audited."""

from __future__ import annotations

import uuid
from datetime import date, time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from telehealth.audit.tables import AuditRow
from telehealth.identity import service as identity
from telehealth.identity.model import LicenseKind
from telehealth.visits import availability, model
from tests.fhir.support import fhir_get, outcome_code, valid_r4
from tests.support import World, scope_for
from tests.visits.support import acting, services_of

pytestmark = pytest.mark.db

NPI = "1234567893"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"


def _credentialed(app: FastAPI, world: World) -> uuid.UUID:
    """Clinician A with an NPI, a discipline, a second (expired) license and weekly hours."""
    clinician = world["clinician_a"].user_id
    with acting(services_of(app), world["coordinator"].user_id) as scope:
        identity.set_clinician_profile(
            scope, clinician, npi=NPI, discipline="physician", specialties=["dermatology"]
        )
        identity.add_license(
            scope,
            clinician,
            state="OK",
            kind=LicenseKind.TELEHEALTH_REGISTRATION,
            number="OK-77",
            expires_on=date(2020, 1, 31),
        )
        availability.add_window(
            scope, clinician, model.WeeklyWindow("America/Chicago", 0, time(9), time(12), 30)
        )
    return clinician


def _ids(bundle: dict[str, object]) -> set[str]:
    valid_r4(bundle)  # type: ignore[arg-type]
    entries = bundle.get("entry", [])
    assert isinstance(entries, list)
    return {e["resource"]["id"] for e in entries if e["search"]["mode"] == "match"}


def test_managers_and_the_clinician_see_npi_and_license_numbers_others_do_not(
    app: FastAPI, client: TestClient, world: World
) -> None:
    clinician = _credentialed(app, world)
    for reader in ("coordinator", "admin", "clinician_a"):
        body = fhir_get(client, world[reader], f"Practitioner/{clinician}").json()
        valid_r4(body)
        assert body["identifier"] == [{"system": NPI_SYSTEM, "value": NPI}], reader
        numbers = {q["identifier"][0]["value"] for q in body["qualification"]}
        assert numbers == {"TX-1", "OK-77"}, reader
    for reader in ("patient_a", "clinician_x"):
        response = fhir_get(client, world[reader], f"Practitioner/{clinician}")
        body = response.json()
        valid_r4(body)
        assert "identifier" not in body, reader
        assert all("identifier" not in q for q in body["qualification"]), reader
        assert NPI not in response.text, reader
        assert "OK-77" not in response.text, reader
    body = fhir_get(client, world["patient_a"], f"Practitioner/{clinician}").json()
    assert body["name"] == [{"use": "official", "text": "clinician_a"}]
    assert body["active"] is True
    by_state = {
        q["extension"][0]["extension"][1]["valueCodeableConcept"]["coding"][0]["code"]: q
        for q in body["qualification"]
    }
    assert set(by_state) == {"TX", "OK"}
    assert by_state["OK"]["period"] == {"end": "2020-01-31"}
    assert by_state["OK"]["extension"][0]["extension"][0]["valueCode"] == "inactive"
    assert by_state["TX"]["extension"][0]["extension"][0]["valueCode"] == "active"
    assert by_state["TX"]["issuer"] == {"display": "TX licensing board"}
    codes = {c["code"] for c in by_state["TX"]["code"]["coding"]}
    assert codes == {"physician", "full"}


def test_another_organizations_clinician_answers_exactly_as_a_missing_one(
    client: TestClient, world: World
) -> None:
    clinician = world["clinician_a"].user_id
    for kind in ("Practitioner", "PractitionerRole"):
        hidden = fhir_get(client, world["other_coordinator"], f"{kind}/{clinician}")
        missing = fhir_get(client, world["other_coordinator"], f"{kind}/{uuid.uuid4()}")
        assert hidden.status_code == missing.status_code == 404
        assert outcome_code(hidden) == "not-found"
        assert hidden.json() == missing.json()
    # A patient is no clinician: their user id finds no Practitioner.
    not_clinician = fhir_get(client, world["coordinator"], f"Practitioner/{world['admin'].user_id}")
    assert not_clinician.status_code == 404


def test_practitioner_search_by_name_identifier_id_and_active(
    app: FastAPI, client: TestClient, world: World
) -> None:
    clinician = str(_credentialed(app, world))
    other = str(world["clinician_x"].user_id)
    coordinator = world["coordinator"]

    def ids(person: str = "coordinator", **params: str) -> set[str]:
        return _ids(fhir_get(client, world[person], "Practitioner", **params).json())

    assert ids() == {clinician, other}
    assert ids(name="CLINICIAN_A") == {clinician}
    assert ids(name="nobody") == set()
    assert ids(identifier=f"{NPI_SYSTEM}|{NPI}") == {clinician}
    assert ids(identifier=NPI) == {clinician}
    assert ids(identifier=f"urn:other|{NPI}") == set()
    # Only readers of the credentials find a clinician by their NPI.
    assert ids("patient_a", identifier=NPI) == set()
    assert ids("clinician_x", identifier=NPI) == set()
    assert ids("clinician_a", identifier=NPI) == {clinician}
    assert ids(_id=clinician) == {clinician}
    assert ids(_id="not-an-id") == set()
    assert ids(active="true") == {clinician, other}
    assert ids(active="false") == set()
    assert ids("other_coordinator") == set()
    first = fhir_get(client, coordinator, "Practitioner", _count="1").json()
    valid_r4(first)
    following = [link["url"] for link in first["link"] if link["relation"] == "next"]
    second = client.get(following[0], headers=coordinator.headers).json()
    assert _ids(first) | _ids(second) == {clinician, other}
    assert not [link for link in second["link"] if link["relation"] == "next"]


def test_practitioner_role_carries_specialties_states_and_hours(
    app: FastAPI, client: TestClient, world: World
) -> None:
    clinician = _credentialed(app, world)
    body = fhir_get(client, world["patient_a"], f"PractitionerRole/{clinician}").json()
    valid_r4(body)
    assert body["practitioner"]["reference"] == f"Practitioner/{clinician}"
    assert body["organization"]["reference"] == f"Organization/{world.org_id}"
    assert body["specialty"][0]["coding"][0]["code"] == "dermatology"
    # The expired Oklahoma registration is no licensed state.
    states = [e["valueCodeableConcept"]["coding"][0]["code"] for e in body["extension"]]
    assert states == ["TX"]
    assert body["availableTime"] == [
        {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/timezone",
                    "valueCode": "America/Chicago",
                }
            ],
            "daysOfWeek": ["mon"],
            "availableStartTime": "09:00:00",
            "availableEndTime": "12:00:00",
        }
    ]


def test_practitioner_role_search_and_include(
    app: FastAPI, client: TestClient, world: World
) -> None:
    clinician = str(_credentialed(app, world))
    other = str(world["clinician_x"].user_id)
    coordinator = world["coordinator"]

    def ids(**params: str) -> set[str]:
        return _ids(fhir_get(client, coordinator, "PractitionerRole", **params).json())

    assert ids() == {clinician, other}
    assert ids(specialty="dermatology") == {clinician}
    assert ids(specialty="urn:telehealth:specialty|dermatology") == {clinician}
    assert ids(specialty="cardiology") == set()
    assert ids(practitioner=f"Practitioner/{clinician}") == {clinician}
    assert ids(practitioner=f"Patient/{clinician}") == set()
    assert ids(organization=f"Organization/{world.org_id}") == {clinician, other}
    assert ids(organization=f"Organization/{world.other_org_id}") == set()
    bundle = fhir_get(
        client,
        coordinator,
        "PractitionerRole",
        practitioner=clinician,
        _include="PractitionerRole:practitioner",
    ).json()
    valid_r4(bundle)
    included = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert [(r["resourceType"], r["id"]) for r in included] == [("Practitioner", clinician)]
    assert included[0]["identifier"][0]["value"] == NPI


def test_organization_is_for_its_members(client: TestClient, world: World) -> None:
    own = fhir_get(client, world["patient_a"], f"Organization/{world.org_id}")
    body = own.json()
    valid_r4(body)
    assert body["name"] == "Test Clinic"
    hidden = fhir_get(client, world["patient_a"], f"Organization/{world.other_org_id}")
    missing = fhir_get(client, world["patient_a"], f"Organization/{uuid.uuid4()}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()

    def ids(**params: str) -> set[str]:
        return _ids(fhir_get(client, world["clinician_x"], "Organization", **params).json())

    assert ids() == {str(world.org_id)}
    assert ids(name="test") == {str(world.org_id)}
    assert ids(name="clinic") == {str(world.org_id)}
    assert ids(name="other") == set()
    assert ids(_id=str(world.other_org_id)) == set()


def test_reads_and_searches_are_audited(app: FastAPI, client: TestClient, world: World) -> None:
    clinician = _credentialed(app, world)
    fhir_get(client, world["patient_a"], f"Practitioner/{clinician}")
    fhir_get(client, world["patient_a"], "PractitionerRole")
    fhir_get(client, world["patient_a"], "Organization")
    with scope_for(world.settings, world.clock) as scope:
        rows = (
            scope.session.execute(
                select(AuditRow).where(
                    AuditRow.actor_id == world["patient_a"].user_id, AuditRow.action == "read"
                )
            )
            .scalars()
            .all()
        )
    seen = {(r.object_type, r.object_id, str((r.detail or {}).get("via"))) for r in rows}
    assert ("clinician", str(clinician), "fhir") in seen
    assert ("clinician_profile", str(clinician), "list") in seen
    assert ("organization", str(world.org_id), "list") in seen


def test_a_changed_clinician_record_gets_a_new_version(
    app: FastAPI, client: TestClient, world: World
) -> None:
    """Clinician records keep no version column: the version follows what the reader sees."""
    clinician = world["clinician_a"].user_id
    reader = world["coordinator"]
    first = fhir_get(client, reader, f"Practitioner/{clinician}")
    again = client.get(
        f"/fhir/R4/Practitioner/{clinician}",
        headers={**reader.headers, "If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304
    with acting(services_of(app), reader.user_id) as scope:
        identity.add_license(
            scope, clinician, state="NM", kind=LicenseKind.FULL, number="NM-9", expires_on=None
        )
    changed = client.get(
        f"/fhir/R4/Practitioner/{clinician}",
        headers={**reader.headers, "If-None-Match": first.headers["etag"]},
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != first.headers["etag"]
    assert changed.json()["meta"]["versionId"] != first.json()["meta"]["versionId"]
