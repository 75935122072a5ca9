"""The FHIR API's actions over the resource types: read, search, create, each audited the one
way and checked against the request's SMART scopes (:mod:`telehealth.fhir.smart`)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from telehealth.access.service import Listed, record_listed
from telehealth.audit.model import Action
from telehealth.errors import DomainError, ErrorCode
from telehealth.fhir import smart
from telehealth.fhir.model import Resource, Search, searchset
from telehealth.fhir.registry import Created, Emitted, Page, ResourceType
from telehealth.scope import Scope


def read(scope: Scope, kind: ResourceType, resource_id: uuid.UUID) -> Resource:
    smart.require(scope, kind, smart.Interaction.READ)
    emitted = kind.read(scope, resource_id)
    audit_read(scope, emitted)
    return emitted.resource


def search(scope: Scope, kind: ResourceType, query: Search, base: str) -> Resource:
    smart.require(scope, kind, smart.Interaction.SEARCH)
    page: Page = kind.search(scope, query)
    audit_search(scope, [*page.matches, *page.included])
    return searchset(
        base,
        kind.name,
        query,
        [e.resource for e in page.matches],
        [e.resource for e in page.included],
        page.total,
        page.more,
    )


def create(scope: Scope, kind: ResourceType, body: Resource) -> Created:
    if kind.create is None:  # routes mount a create only for a type that has one
        raise DomainError(ErrorCode.INVALID_INPUT, f"create is not supported for {kind.name}")
    smart.require(scope, kind, smart.Interaction.CREATE)
    return kind.create(scope, body)


def audit_read(scope: Scope, emitted: Emitted) -> None:
    scope.audit.record(
        Action.READ,
        emitted.kind,
        emitted.object_id,
        patient_id=emitted.patient_id,
        detail={"via": "fhir"},
    )


def audit_search(scope: Scope, emitted: Sequence[Emitted], *, via: str = "list") -> None:
    """Audits a search's results as a list's: each a read, break-glass use where only an
    emergency grant reached it (``via`` names what showed them: a list, a bulk export)."""
    by_kind: dict[str, list[Listed]] = defaultdict(list)
    for item in emitted:
        by_kind[item.kind].append(Listed(item.object_id, item.patient_id, item.named))
    for kind, listed in by_kind.items():
        record_listed(scope, kind, listed, via=via)
