"""The CapabilityStatement: exactly what the resource types in the catalog support (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from telehealth.fhir.model import FHIR_VERSION, Resource
from telehealth.fhir.registry import ResourceType

SMART_SECURITY: Resource = {
    "cors": False,
    "service": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR",
                }
            ],
            "text": "OAuth2 bearer tokens with SMART on FHIR scopes",
        }
    ],
}


def capability_statement(
    base: str,
    software_version: str,
    released: str,
    kinds: Sequence[ResourceType],
    security: Resource | None = None,
) -> Resource:
    rest: Resource = {"mode": "server", "resource": [_resource(kind) for kind in kinds]}
    if security is not None:
        rest["security"] = security
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": released,
        "publisher": "telehealth",
        "kind": "instance",
        "software": {"name": "telehealth", "version": software_version},
        "implementation": {"description": "telehealth FHIR R4 API", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [rest],
    }


def _resource(kind: ResourceType) -> Resource:
    interactions = [{"code": "read"}, {"code": "search-type"}]
    if kind.create is not None:
        interactions.append({"code": "create"})
    out: Resource = {
        "type": kind.name,
        "interaction": interactions,
        "versioning": "versioned",
        "readHistory": False,
        "conditionalCreate": False,
        "searchParam": [
            {"name": "_id", "type": "token", "documentation": "the resource's id"},
            *(
                {"name": p.name, "type": p.type, "documentation": p.documentation}
                for p in kind.params
            ),
        ],
    }
    if kind.profiles:
        out["supportedProfile"] = list(kind.profiles)
    if kind.includes:
        out["searchInclude"] = list(kind.includes)
    if kind.documentation:
        out["documentation"] = kind.documentation
    return out
