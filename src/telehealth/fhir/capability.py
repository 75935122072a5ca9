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

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def smart_security(token_url: str) -> Resource:
    """``rest.security``: SMART on FHIR, with the OAuth endpoints' extension naming the token
    endpoint of SMART Backend Services (people use API tokens, docs/fhir.md)."""
    return {
        "extension": [{"url": OAUTH_URIS, "extension": [{"url": "token", "valueUri": token_url}]}],
        **SMART_SECURITY,
        "description": "SMART App Launch v2 scopes on API tokens; SMART Backend Services "
        "(client_credentials with private_key_jwt) for registered system clients.",
    }


def smart_configuration(token_url: str, kinds: Sequence[ResourceType]) -> Resource:
    """``.well-known/smart-configuration``: what an authorization client needs to know."""
    contexts = ("patient", "user", "system")
    scopes = [f"{c}/*.rs" for c in contexts]
    scopes += [f"{c}/{kind.name}.rs" for c in contexts for kind in kinds]
    return {
        "token_endpoint": token_url,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": scopes,
        "response_types_supported": ["token"],
        "capabilities": [
            "client-confidential-asymmetric",
            "permission-v2",
            "permission-v1",
            "permission-patient",
            "permission-user",
        ],
    }


def capability_statement(
    base: str,
    software_version: str,
    released: str,
    kinds: Sequence[ResourceType],
    security: Resource,
) -> Resource:
    rest: Resource = {
        "mode": "server",
        "security": security,
        "resource": [_resource(kind) for kind in kinds],
    }
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
