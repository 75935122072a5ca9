"""FHIR Bulk Data export: kick-off, the export job acting as the requester, status, NDJSON
files (R4-valid, counted, audited), ``_type`` and ``_since``, who may export and who sees an
export, cancel and expiry."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from telehealth.audit.tables import AuditRow
from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.errors import DomainError, ErrorCode
from telehealth.fhir import bulk, smart
from telehealth.fhir.catalog import RESOURCE_TYPES
from telehealth.fhir.export_tables import FhirExport, FhirExportFile
from telehealth.identity.model import Actor, CredentialKind, Role
from telehealth.jobs import registered, run_job
from tests.conftest import settings_for
from tests.fhir.support import fhir_get, outcome_code, valid_r4
from tests.support import Person, World, scope_for

PREFER = {"Prefer": "respond-async"}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # One resource per file, so an export of the organization's two patients splits; files
    # expire within the bearer tokens' day.
    return settings_for(database_url, tmp_path).model_copy(
        update={"fhir_export_file_resources": 1, "fhir_export_hours": 1}
    )


def kick_off(
    client: TestClient, person: Person, path: str = "Patient/$export", **params: Any
) -> Any:
    return client.get(f"/fhir/R4/{path}", headers={**person.headers, **PREFER}, params=params)


def status_path(response: Any) -> str:
    assert response.status_code == 202, response.text
    location = response.headers["content-location"]
    assert location.startswith("http://testserver/fhir/R4/bulkstatus/")
    return location.removeprefix("http://testserver")


def run_jobs(app: FastAPI, name: str = "fhir.run_exports") -> int:
    job = next(j for j in registered() if j.name == name)
    services = app.state.services
    return run_job(job, services.sessions, services.ports)


def manifest(client: TestClient, person: Person, path: str) -> dict[str, Any]:
    response = client.get(path, headers=person.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def lines_of(client: TestClient, person: Person, url: str) -> list[dict[str, Any]]:
    response = client.get(url.removeprefix("http://testserver"), headers=person.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def exported(client: TestClient, person: Person, body: dict[str, Any]) -> list[dict[str, Any]]:
    resources = []
    for output in body["output"]:
        found = lines_of(client, person, output["url"])
        assert len(found) == output["count"]
        assert {r["resourceType"] for r in found} == {output["type"]}
        resources += found
    return resources


def audit_rows(app: FastAPI, **where: Any) -> list[Any]:
    query = select(AuditRow).filter_by(**where).order_by(AuditRow.at)
    with app.state.services.engine.connect() as conn:
        return list(conn.execute(query).mappings().all())


def org_patient_ids(client: TestClient, world: World) -> set[str]:
    bundle = fhir_get(client, world["coordinator"], "Patient", _count=200).json()
    return {entry["resource"]["id"] for entry in bundle["entry"]}


def test_an_export_runs_in_the_background_and_its_files_hold_every_patient(
    app: FastAPI, client: TestClient, world: World
) -> None:
    coordinator = world["coordinator"]
    path = status_path(
        kick_off(client, coordinator, _type="Patient", _outputFormat="application/fhir+ndjson")
    )
    waiting = client.get(path, headers=coordinator.headers)
    assert waiting.status_code == 202
    assert waiting.headers["x-progress"] == "queued"

    assert run_jobs(app) == 2
    body = manifest(client, coordinator, path)
    assert body["requiresAccessToken"] is True
    assert body["error"] == []
    assert body["request"].startswith("http://testserver/fhir/R4/Patient/$export")
    assert body["transactionTime"].endswith("Z")
    # One resource per file (the setting): the two patients are in two files.
    assert [(o["type"], o["count"]) for o in body["output"]] == [("Patient", 1), ("Patient", 1)]
    resources = exported(client, coordinator, body)
    for resource in resources:
        valid_r4(resource)
    ids = {r["id"] for r in resources}
    assert ids == org_patient_ids(client, world)
    assert {str(world["patient_a"].patient_id), str(world["patient_b"].patient_id)} == ids
    # Each exported resource was audited as read by the requester, via the export; each
    # download too.
    reads = [
        row
        for row in audit_rows(app, action="read", object_type="patient")
        if row["detail"] == {"via": "export"}
    ]
    assert {row["object_id"] for row in reads} == ids
    assert {row["actor_id"] for row in reads} == {coordinator.user_id}
    downloads = audit_rows(app, action="download", object_type="fhir_export_file")
    assert len(downloads) == 2
    assert {row["actor_id"] for row in downloads} == {coordinator.user_id}
    # A run with nothing waiting writes nothing.
    assert run_jobs(app) == 0


def test_a_group_export_is_the_organization_and_another_organizations_group_is_missing(
    app: FastAPI, client: TestClient, world: World
) -> None:
    admin = world["admin"]
    path = status_path(kick_off(client, admin, f"Group/{world.org_id}/$export", _type="Patient"))
    run_jobs(app)
    ids = {r["id"] for r in exported(client, admin, manifest(client, admin, path))}
    assert ids == org_patient_ids(client, world)

    theirs = kick_off(client, admin, f"Group/{world.other_org_id}/$export")
    missing = kick_off(client, admin, "Group/00000000-0000-4000-8000-000000000000/$export")
    not_an_id = kick_off(client, admin, "Group/clinic/$export")
    assert theirs.status_code == missing.status_code == not_an_id.status_code == 404
    assert outcome_code(theirs) == "not-found"
    assert theirs.json() == missing.json() == not_an_id.json()


@pytest.mark.parametrize("person", ["patient_a", "clinician_a", "clinician_x"])
def test_only_coordinators_and_administrators_export(
    client: TestClient, world: World, person: str
) -> None:
    refused = kick_off(client, world[person])
    assert refused.status_code == 403
    assert outcome_code(refused) == "forbidden"
    group = kick_off(client, world[person], f"Group/{world.org_id}/$export")
    assert group.status_code == 403


@pytest.mark.parametrize(
    ("headers", "params", "field"),
    [
        ({}, {}, "Prefer"),
        (PREFER, {"_type": "Patient,Spaceship"}, "_type"),
        (PREFER, {"_outputFormat": "application/fhir+json"}, "_outputFormat"),
        (PREFER, {"_since": "2026-01-01"}, "_since"),
        (PREFER, {"_since": "yesterday"}, "_since"),
        ({"Prefer": "respond-async, handling=strict"}, {"_typeFilter": "x"}, "_typeFilter"),
    ],
)
def test_a_request_the_export_cannot_take_answers_400(
    client: TestClient, world: World, headers: dict[str, str], params: dict[str, str], field: str
) -> None:
    coordinator = world["coordinator"]
    response = client.get(
        "/fhir/R4/Patient/$export", headers={**coordinator.headers, **headers}, params=params
    )
    assert response.status_code == 400, response.text
    assert outcome_code(response) == "invalid"
    assert response.json()["issue"][0]["expression"] == [field]


def test_type_and_since_are_honoured(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    coordinator = world["coordinator"]
    assert [k.name for k in bulk.export_types("Patient,Patient")] == ["Patient"]
    assert bulk.export_types(None) == bulk.export_types("")
    clock.advance(timedelta(minutes=5))
    since = clock.now()
    clock.advance(timedelta(minutes=5))
    patient_a = world["patient_a"]
    version = fhir_get(client, patient_a, f"Patient/{patient_a.patient_id}").json()
    changed = client.patch(
        f"/v1/patients/{patient_a.patient_id}",
        headers=coordinator.headers,
        json={"phone": "555-0100", "version": int(version["meta"]["versionId"])},
    )
    assert changed.status_code == 200, changed.text
    path = status_path(
        kick_off(
            client, coordinator, _type="Patient", _since=since.isoformat().replace("+00:00", "Z")
        )
    )
    run_jobs(app)
    resources = exported(client, coordinator, manifest(client, coordinator, path))
    assert [r["id"] for r in resources] == [str(patient_a.patient_id)]
    later = status_path(
        kick_off(client, coordinator, _type="Patient", _since="2999-01-01T00:00:00+00:00")
    )
    run_jobs(app)
    assert manifest(client, coordinator, later)["output"] == []


def test_someone_elses_export_answers_exactly_as_a_missing_one(
    app: FastAPI, client: TestClient, world: World
) -> None:
    coordinator = world["coordinator"]
    path = status_path(kick_off(client, coordinator))
    run_jobs(app)
    file_url = manifest(client, coordinator, path)["output"][0]["url"]
    file_path = file_url.removeprefix("http://testserver")
    export_id = path.rsplit("/", 1)[1]
    missing_status = f"/fhir/R4/bulkstatus/{'0' * 8}-0000-4000-8000-{'0' * 12}"
    missing_file = file_path.replace(export_id, f"{'0' * 8}-0000-4000-8000-{'0' * 12}")
    for other in ("other_coordinator", "admin", "patient_a"):
        person = world[other]
        for hidden, missing in ((path, missing_status), (file_path, missing_file)):
            seen = client.get(hidden, headers=person.headers)
            unseen = client.get(missing, headers=person.headers)
            assert seen.status_code == unseen.status_code == 404, (other, hidden)
            assert outcome_code(seen) == "not-found"
            assert seen.json() == unseen.json()
        cancelled = client.delete(path, headers=person.headers)
        assert cancelled.status_code == 404
    # The requester still has it.
    assert client.get(file_path, headers=coordinator.headers).status_code == 200


def test_a_cancelled_export_and_its_files_are_gone(
    app: FastAPI, client: TestClient, world: World
) -> None:
    coordinator = world["coordinator"]
    before_run = status_path(kick_off(client, coordinator))
    assert client.delete(before_run, headers=coordinator.headers).status_code == 202
    assert client.get(before_run, headers=coordinator.headers).status_code == 404
    assert run_jobs(app) == 0

    path = status_path(kick_off(client, coordinator))
    run_jobs(app)
    file_path = manifest(client, coordinator, path)["output"][0]["url"]
    blobs = blob_ids(app)
    assert blobs
    assert client.delete(path, headers=coordinator.headers).status_code == 202
    assert client.get(path, headers=coordinator.headers).status_code == 404
    assert client.get(file_path, headers=coordinator.headers).status_code == 404
    store = app.state.services.ports.uploads.blobs
    assert not any(store.exists(blob) for blob in blobs)
    assert blob_ids(app) == []


def blob_ids(app: FastAPI) -> list[str]:
    with app.state.services.engine.connect() as conn:
        return list(conn.execute(select(FhirExportFile.blob_id)).scalars())


def test_files_expire_and_the_expiry_job_deletes_their_blobs(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock, settings: Settings
) -> None:
    coordinator = world["coordinator"]
    path = status_path(kick_off(client, coordinator))
    run_jobs(app)
    file_path = manifest(client, coordinator, path)["output"][0]["url"]
    blobs = blob_ids(app)
    store = app.state.services.ports.uploads.blobs
    assert blobs
    assert all(store.exists(blob) for blob in blobs)
    assert run_jobs(app, "fhir.expire_exports") == 0

    clock.advance(timedelta(hours=settings.fhir_export_hours, seconds=1))
    assert client.get(path, headers=coordinator.headers).status_code == 404
    assert client.get(file_path, headers=coordinator.headers).status_code == 404
    assert run_jobs(app, "fhir.expire_exports") == 1
    assert not any(store.exists(blob) for blob in blobs)
    with app.state.services.engine.connect() as conn:
        assert conn.execute(select(FhirExport.id)).all() == []


def test_an_export_whose_requester_may_no_longer_export_fails(
    app: FastAPI, client: TestClient, world: World
) -> None:
    coordinator = world["coordinator"]
    status_path(kick_off(client, coordinator))
    demoted = client.put(
        f"/v1/users/{coordinator.user_id}/role",
        headers=world["admin"].headers,
        json={"role": "clinician"},
    )
    assert demoted.status_code == 200, demoted.text
    assert run_jobs(app) == 0
    with app.state.services.engine.connect() as conn:
        assert conn.execute(select(FhirExport.status, FhirExport.failure)).all() == [
            ("failed", "forbidden")
        ]
    assert blob_ids(app) == []
    assert audit_rows(app, action="read", object_type="patient") == []


def test_a_failed_export_answers_500_with_an_operation_outcome(
    app: FastAPI, client: TestClient, world: World
) -> None:
    coordinator = world["coordinator"]
    path = status_path(kick_off(client, coordinator))
    with app.state.services.engine.begin() as conn:
        conn.execute(update(FhirExport).values(status="failed", failure="internal"))
    failed = client.get(path, headers=coordinator.headers)
    assert failed.status_code == 500
    assert outcome_code(failed) == "exception"
    assert run_jobs(app) == 0


def test_another_organizations_export_holds_only_its_own_patients(
    app: FastAPI, client: TestClient, world: World
) -> None:
    theirs = world["other_coordinator"]
    made = client.post(
        "/v1/patients",
        headers=theirs.headers,
        json={
            "given_name": "Other",
            "family_name": "Patient",
            "birth_date": "1980-01-01",
            "home_state": "TX",
        },
    )
    assert made.status_code == 201, made.text
    path = status_path(kick_off(client, theirs))
    run_jobs(app)
    resources = exported(client, theirs, manifest(client, theirs, path))
    patients = {r["id"] for r in resources if r["resourceType"] == "Patient"}
    assert patients == {made.json()["id"]}
    ours = {str(world["patient_a"].patient_id), str(world["patient_b"].patient_id)}
    assert not any(p in orjson.dumps(r).decode() for r in resources for p in ours)


def test_an_export_of_every_type_holds_what_each_types_search_finds(
    app: FastAPI, client: TestClient, world: World
) -> None:
    coordinator = world["coordinator"]
    path = status_path(kick_off(client, coordinator))
    total = run_jobs(app)
    body = manifest(client, coordinator, path)
    resources = exported(client, coordinator, body)
    assert total == len(resources) == sum(o["count"] for o in body["output"])
    for resource in resources:
        valid_r4(resource)
    served = {kind.name for kind in RESOURCE_TYPES}
    assert {r["resourceType"] for r in resources} <= served
    by_type: dict[str, set[str]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], set()).add(resource["id"])
    assert by_type["Patient"] == org_patient_ids(client, world)
    # Types outside a patient's record are exported whole, as the requester's search finds them.
    for kind in ("Organization", "Practitioner", "Questionnaire"):
        bundle = fhir_get(client, coordinator, kind, _count=200).json()
        assert by_type.get(kind, set()) == {e["resource"]["id"] for e in bundle.get("entry", [])}


def test_a_credential_whose_scopes_do_not_search_a_type_cannot_export_it(world: World) -> None:
    coordinator = world["coordinator"]
    actor = Actor(
        coordinator.user_id, Role.COORDINATOR, world.org_id, None, True, CredentialKind.SYSTEM
    )
    asked = bulk.Asked("Patient", None, None, "respond-async", "/fhir/R4/Patient/$export")
    with scope_for(world.settings, world.clock, world.ports) as scope:
        scope.act_as(actor)
        scope.memo[smart.MEMO_KEY] = smart.parse_scopes("system/Observation.rs")
        with pytest.raises(DomainError) as refused:
            bulk.kick_off(scope, asked)
        assert refused.value.code is ErrorCode.FORBIDDEN
        scope.memo[smart.MEMO_KEY] = smart.parse_scopes("system/*.rs")
        assert bulk.kick_off(scope, asked).types == "Patient"
