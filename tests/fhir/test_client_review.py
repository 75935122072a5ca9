"""A real FHIR client (fhirpy) reads and searches the store-and-forward resources and billing
lines of a served app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhirpy import SyncFHIRClient

from telehealth.review import service
from tests.fhir.support import valid_r4
from tests.portal.live import Live, live_server
from tests.review.support import acting, add_media, build_case, signed_report_id
from tests.support import services_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(sqlite_template, tmp_path_factory.mktemp("fhir-review-live")) as server:
        yield server


def _client(live: Live, key: str) -> SyncFHIRClient:
    token = live.world[key].token
    return SyncFHIRClient(f"{live.base_url}/fhir/R4", authorization=f"Bearer {token}")


def _read_and_search(client: SyncFHIRClient, kind: str, resource_id: str, **params: Any) -> None:
    read = client.reference(kind, resource_id).to_resource()
    valid_r4(read.serialize())
    found = client.resources(kind).search(**params).fetch_all()
    assert resource_id in {r.id for r in found}
    for resource in found:
        valid_r4(resource.serialize())


def test_service_requests_through_a_fhir_client(live: Live) -> None:
    case_id = build_case(live.world, "claimed")
    patient = f"Patient/{live.world['patient_a'].patient_id}"
    client = _client(live, "coordinator")
    _read_and_search(client, "ServiceRequest", str(case_id), patient=patient, status="active")


def test_diagnostic_reports_through_a_fhir_client(live: Live) -> None:
    report_id = signed_report_id(live.world, build_case(live.world, "signed"))
    client = _client(live, "patient_a")
    _read_and_search(client, "DiagnosticReport", str(report_id), status="final")


def test_document_references_through_a_fhir_client(live: Live) -> None:
    media_id = add_media(live.world, build_case(live.world, "queued"))
    client = _client(live, "patient_a")
    _read_and_search(client, "DocumentReference", str(media_id), category="document")


def test_charge_items_through_a_fhir_client(live: Live) -> None:
    world = live.world
    case_id = build_case(world, "signed")
    with services_for(world) as services, acting(services, world["clinician_a"]) as scope:
        billing = service.case_view(scope, case_id, record_read=False).billing[0]
    client = _client(live, "coordinator")
    search = {"patient": f"Patient/{world['patient_a'].patient_id}"}
    request = f"ServiceRequest/{case_id}"
    found = [
        r
        for r in client.resources("ChargeItem").search(**search).fetch_all()
        if r.serialize().get("supportingInformation") == [{"reference": request}]
    ]
    assert found
    assert {r["code"]["coding"][0]["code"] for r in found} == {
        line["code"] for line in billing.lines
    }
    _read_and_search(client, "ChargeItem", found[0].id, **search)
