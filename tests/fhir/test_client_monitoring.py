"""A real FHIR client (fhirpy) against a served app: patient A's monitoring readings and
devices read and searched as a clinician, and an Observation created with a device's token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fhirpy import SyncFHIRClient

from telehealth.identity import service as identity
from telehealth.monitoring import service as monitoring
from tests.access.matrix_monitoring import _objects as monitoring_objects
from tests.fhir.support import valid_r4
from tests.portal.live import Live, live_server
from tests.support import scope_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(sqlite_template, tmp_path_factory.mktemp("fhir-monitoring-live")) as server:
        yield server


def _client(live: Live, token: str) -> SyncFHIRClient:
    return SyncFHIRClient(live.url("/fhir/R4"), authorization=f"Bearer {token}")


def test_readings_and_devices_through_a_fhir_client(live: Live) -> None:
    world = live.world
    objects = monitoring_objects(world)
    client = _client(live, world["clinician_a"].token)
    patient = f"Patient/{world['patient_a'].patient_id}"

    observations = client.resources("Observation").search(patient=patient).sort("-date").fetch()
    assert observations
    for observation in observations:
        valid_r4(observation.serialize())
    first = client.reference("Observation", observations[0].id).to_resource()
    assert first.serialize() == observations[0].serialize()
    heart = client.resources("Observation").search(patient=patient, code="8867-4").fetch()
    assert {o["code"]["coding"][0]["code"] for o in heart} == {"8867-4"}

    devices = client.resources("Device").search(patient=patient, status="active").fetch()
    assert str(objects.device) in {d.id for d in devices}
    device = client.reference("Device", str(objects.device)).to_resource()
    valid_r4(device.serialize())
    assert device["patient"]["reference"] == patient


def test_a_device_creates_an_observation_through_a_fhir_client(live: Live) -> None:
    world = live.world
    objects = monitoring_objects(world)
    with scope_for(world.settings, world.clock) as scope:
        scope.act_as(identity.resolve_token(scope, world["clinician_a"].token))
        data = monitoring.DeviceInput("pulse_oximeter", "Acme", "OX-1", "SN-OX", True)
        _, token = monitoring.add_device(scope, objects.enrollment, data)
    device_client = _client(live, token)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    observation = device_client.resource(
        "Observation",
        status="final",
        code={"coding": [{"system": "http://loinc.org", "code": "59408-5"}]},
        effectiveDateTime=at.isoformat(),
        valueQuantity={"value": 97, "system": "http://unitsofmeasure.org", "code": "%"},
    )
    observation.create()
    assert observation.id
    stored = _client(live, world["clinician_a"].token).reference("Observation", observation.id)
    read = stored.to_resource()
    valid_r4(read.serialize())
    assert read["meta"]["profile"] == [
        "http://hl7.org/fhir/us/core/StructureDefinition/us-core-pulse-oximetry"
    ]
