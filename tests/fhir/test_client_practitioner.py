"""The SMART on FHIR Python client (``fhirclient``, R4 models) reads and searches Practitioner
and Organization on a real server: its models parse what the API serves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fhirclient import client as fhir_client
from fhirclient.models.bundle import Bundle
from fhirclient.models.organization import Organization
from fhirclient.models.practitioner import Practitioner

from tests.portal.live import Live, live_server

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def live(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(sqlite_template, tmp_path_factory.mktemp("fhir-client-live")) as server:
        yield server


def _server(live: Live, key: str) -> fhir_client.FHIRServer:
    smart = fhir_client.FHIRClient(
        settings={"app_id": "telehealth-tests", "api_base": live.url("/fhir/R4")}
    )
    smart.server.session.headers["Authorization"] = f"Bearer {live.world[key].token}"
    server: fhir_client.FHIRServer = smart.server
    return server


def test_fhirclient_reads_and_searches_practitioners(live: Live) -> None:
    server = _server(live, "coordinator")
    clinician = str(live.world["clinician_a"].user_id)
    found = Practitioner.read(clinician, server)
    assert found.id == clinician
    assert found.name[0].text == "clinician_a"
    assert found.qualification[0].identifier[0].value == "TX-1"
    bundles = list(Practitioner.where(struct={"name": "clinician"}).perform_iter(server))
    assert all(isinstance(b, Bundle) for b in bundles)
    assert {e.resource.id for b in bundles for e in b.entry} == {
        clinician,
        str(live.world["clinician_x"].user_id),
    }
    # A patient reads the same clinician without the license number.
    public = Practitioner.read(clinician, _server(live, "patient_a"))
    assert public.qualification[0].identifier is None


def test_fhirclient_reads_and_searches_the_organization(live: Live) -> None:
    server = _server(live, "patient_a")
    org_id = str(live.world.org_id)
    found = Organization.read(org_id, server)
    assert found.name == "Test Clinic"
    matches = Organization.where(struct={"name": "test"}).perform_resources_iter(server)
    assert [m.id for m in matches] == [org_id]
    elsewhere = Organization.where(struct={"_id": str(live.world.other_org_id)})
    assert list(elsewhere.perform_resources_iter(server)) == []
