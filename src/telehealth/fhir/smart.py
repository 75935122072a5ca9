"""SMART on FHIR scopes (App Launch v2, with v1's ``read``/``write`` understood): which
interactions a request's credential grants on which resource types.

Scopes narrow what the credential's user may do; they never widen it: every object still goes
through the access loader. A credential that carries no scopes (a page session, an API token
made without any) acts with all of its user's access, as on the native API.
"""

from __future__ import annotations

from typing import Protocol

from telehealth.errors import DomainError, ErrorCode
from telehealth.identity.model import Role
from telehealth.identity.scopes import NON_RESOURCE_SCOPES as NON_RESOURCE_SCOPES
from telehealth.identity.scopes import R4_RESOURCE_TYPES as R4_RESOURCE_TYPES
from telehealth.identity.scopes import Context as Context
from telehealth.identity.scopes import Grant as Grant
from telehealth.identity.scopes import Interaction as Interaction
from telehealth.identity.scopes import checked_scopes as checked_scopes
from telehealth.identity.scopes import parse_scope as parse_scope
from telehealth.identity.scopes import parse_scopes as parse_scopes
from telehealth.scope import Scope

MEMO_KEY = "fhir.granted"


class ResourceTypeLike(Protocol):
    """What scope checks read off a resource type (its name and compartment)."""

    @property
    def name(self) -> str: ...

    @property
    def patient_compartment(self) -> bool: ...


def narrowed(requested: tuple[Grant, ...], allowed: tuple[Grant, ...]) -> tuple[Grant, ...]:
    """The requested grants cut down to what ``allowed`` covers (requested ∩ allowed)."""
    out: dict[str, Grant] = {}
    for want in requested:
        for have in allowed:
            both = want.within(have)
            if both is not None:
                out.setdefault(both.text, both)
    return tuple(out.values())


def permits(
    grants: tuple[Grant, ...],
    role: Role,
    resource_type: str,
    interaction: Interaction,
    *,
    patient_compartment: bool,
) -> bool:
    """Whether any grant covers the interaction. ``patient/`` grants are a patient's own
    compartment: they hold for a patient's credential on the types of a patient's record."""
    for grant in grants:
        if not grant.covers(resource_type, interaction):
            continue
        if grant.context is Context.PATIENT and not (role is Role.PATIENT and patient_compartment):
            continue
        return True
    return False


def granted(scope: Scope) -> tuple[Grant, ...] | None:
    """The request credential's grants; None when it carries no scopes (all its user's
    access)."""
    found = scope.memo.get(MEMO_KEY)
    return found if isinstance(found, tuple) else None


def require(scope: Scope, kind: ResourceTypeLike, interaction: Interaction) -> None:
    grants = granted(scope)
    if grants is None:
        return
    role = scope.require_actor().role
    if not permits(
        grants, role, kind.name, interaction, patient_compartment=kind.patient_compartment
    ):
        raise DomainError(
            ErrorCode.FORBIDDEN,
            f"the token's scopes do not allow this on {kind.name}",
        )
