"""The CapabilityStatement lists exactly what the API serves, and is valid R4."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.fhir.catalog import RESOURCE_TYPES
from telehealth.web.inventory import iter_routes
from tests.fhir.support import FHIR_JSON, valid_r4


def test_metadata_needs_no_credential_and_is_a_valid_capability_statement(
    client: TestClient,
) -> None:
    response = client.get("/fhir/R4/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(FHIR_JSON)
    statement = response.json()
    valid_r4(statement)
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["format"] == ["json"]
    assert statement["implementation"]["url"] == "http://testserver/fhir/R4"


def test_it_lists_exactly_the_types_interactions_and_parameters_served(
    client: TestClient, app: FastAPI
) -> None:
    statement = client.get("/fhir/R4/metadata").json()
    listed = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(listed) == {kind.name for kind in RESOURCE_TYPES}
    routes = {(r.method, r.path) for r in iter_routes(app) if r.path.startswith("/fhir/R4/")}
    for kind in RESOURCE_TYPES:
        entry = listed[kind.name]
        interactions = {i["code"] for i in entry["interaction"]}
        assert ("GET", f"/fhir/R4/{kind.name}/{{resource_id}}") in routes
        assert ("GET", f"/fhir/R4/{kind.name}") in routes
        assert "read" in interactions
        assert "search-type" in interactions
        assert ("create" in interactions) == (("POST", f"/fhir/R4/{kind.name}") in routes)
        params = {p["name"] for p in entry["searchParam"]}
        assert params == kind.param_names
        assert entry.get("searchInclude", []) == list(kind.includes)


def test_the_docs_table_lists_what_the_catalog_serves() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs/fhir.md").read_text()
    rows = {
        cells[0]: cells
        for line in docs.splitlines()
        if line.startswith("| ")
        and (cells := [c.strip() for c in line.strip("|").split("|")])[0] in NAMES
    }
    assert set(rows) == NAMES
    for kind in RESOURCE_TYPES:
        listed = {p.strip("` ") for p in rows[kind.name][2].split(",")}
        assert listed == kind.param_names, kind.name
        assert ("create" in rows[kind.name][1]) == (kind.create is not None)


NAMES = {kind.name for kind in RESOURCE_TYPES}
