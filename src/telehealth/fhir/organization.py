"""Organization: the actor's own organization (the clinic), its name and id. Its members read
it; any other organization answers as missing, exactly like one that does not exist."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from telehealth.access import service as access
from telehealth.fhir.content import with_content_meta
from telehealth.fhir.model import Resource, Search, identifier
from telehealth.fhir.registry import Emitted, Page, Param, ResourceType
from telehealth.scope import Scope

if TYPE_CHECKING:
    from telehealth.identity.tables import Organization

US_CORE_ORGANIZATION = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-organization"
AUDIT_KIND = "organization"


def organization_resource(org: Organization) -> Resource:
    resource: Resource = {
        "resourceType": "Organization",
        "id": str(org.id),
        "identifier": [identifier("organization", str(org.id))],
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "prov",
                        "display": "Healthcare Provider",
                    }
                ]
            }
        ],
        "name": org.name,
    }
    return with_content_meta(resource, org.created_at, (US_CORE_ORGANIZATION,))


def read(scope: Scope, org_id: uuid.UUID) -> Emitted:
    org = access.readable_organization(scope, org_id)
    return Emitted(organization_resource(org), AUDIT_KIND, org.id, None)


def search(scope: Scope, query: Search) -> Page:
    """The actor's organization, when it matches: ``_id`` and ``name`` (the start of the name,
    or of any word in it, ignoring case)."""
    own = scope.require_actor().org_id
    ids = query.ids()
    if ids is not None and own not in ids:
        return Page((), False, 0)
    found = read(scope, own)
    name = query.one("name")
    if name is not None and not _name_matches(str(found.resource["name"]), name):
        return Page((), False, 0)
    if query.offset > 0 or query.count == 0:
        return Page((), False, 1)
    return Page([found], False, 1)


def _name_matches(name: str, start: str) -> bool:
    wanted = start.lower()
    return any(word.startswith(wanted) for word in [name.lower(), *name.lower().split()])


ORGANIZATION = ResourceType(
    name="Organization",
    read=read,
    search=search,
    params=(Param("name", "string", "the start of the name, or of any word in it"),),
    profiles=(US_CORE_ORGANIZATION,),
    documentation="The credential's user's own organization",
    patient_compartment=False,
)
