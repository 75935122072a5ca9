"""What a FHIR resource type offers the API: how to read one, how to search, which search
parameters, sorts and includes it supports, and the audit facts of what it emits.

Each resource module builds its resources from a capability's services and access loaders;
the routes (:mod:`telehealth.fhir.routes`) audit every emitted resource the one way
(:func:`telehealth.fhir.service.audit_read` and ``audit_search``) and build the Bundles.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from telehealth.fhir.model import Resource, Search
from telehealth.scope import Scope


@dataclass(frozen=True, slots=True)
class Emitted:
    """A resource and what its audit event names: the object kind and id it was read from (the
    access loader's kind), its patient, and the users it names as working on it."""

    resource: Resource
    kind: str
    object_id: uuid.UUID
    patient_id: uuid.UUID | None
    named: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a search: the matches, whether more follow, the total when known, and the
    resources ``_include`` brought along."""

    matches: Sequence[Emitted]
    more: bool
    total: int | None = None
    included: Sequence[Emitted] = ()


@dataclass(frozen=True, slots=True)
class Param:
    """A search parameter as the CapabilityStatement lists it."""

    name: str
    type: str  # token | date | reference | string | quantity | uri
    documentation: str


@dataclass(frozen=True, slots=True)
class Created:
    """What a create answered: the stored resource, whether it was new (201) or the same
    submission seen before (200, idempotent)."""

    emitted: Emitted
    new: bool


Reader = Callable[[Scope, uuid.UUID], Emitted]
Searcher = Callable[[Scope, Search], Page]
Creator = Callable[[Scope, Resource], Created]


@dataclass(frozen=True)
class ResourceType:
    name: str
    read: Reader
    search: Searcher
    params: tuple[Param, ...] = ()
    sorts: tuple[str, ...] = ()
    includes: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    create: Creator | None = None
    # The credential create takes instead of a person's (a monitoring device's token): given
    # the request's bearer token (None without one), it authenticates it onto the scope for
    # ``create`` to use, or raises the not-authenticated error. None: a person's credential.
    create_credential: Callable[[Scope, str | None], None] | None = None
    documentation: str = ""
    # Whether the type belongs to a patient's compartment (``patient/`` SMART scopes).
    patient_compartment: bool = True

    @property
    def param_names(self) -> frozenset[str]:
        return frozenset({p.name for p in self.params} | {"_id"})
