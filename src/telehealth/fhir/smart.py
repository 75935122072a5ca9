"""SMART on FHIR scopes (App Launch v2, with v1's ``read``/``write`` understood): which
interactions a request's credential grants on which resource types.

Scopes narrow what the credential's user may do; they never widen it: every object still goes
through the access loader. A credential that carries no scopes (a page session, an API token
made without any) acts with all of its user's access, as on the native API.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from telehealth.errors import DomainError, ErrorCode
from telehealth.identity.model import Role
from telehealth.scope import Scope

MEMO_KEY = "fhir.granted"


class Interaction(StrEnum):
    CREATE = "c"
    READ = "r"
    UPDATE = "u"
    DELETE = "d"
    SEARCH = "s"


class Context(StrEnum):
    PATIENT = "patient"
    USER = "user"
    SYSTEM = "system"


_V1 = {"read": "rs", "write": "cud", "*": "cruds"}


@dataclass(frozen=True, slots=True)
class Grant:
    context: Context
    resource_type: str  # a type, or "*"
    interactions: frozenset[Interaction]

    def covers(self, resource_type: str, interaction: Interaction) -> bool:
        return self.resource_type in ("*", resource_type) and interaction in self.interactions


class ResourceTypeLike(Protocol):
    """What scope checks read off a resource type (its name and compartment)."""

    @property
    def name(self) -> str: ...

    @property
    def patient_compartment(self) -> bool: ...


def parse_scope(text: str) -> Grant | None:
    """One scope string as a grant; None for scopes that grant no resource access
    (``openid``, ``launch``, ``offline_access``...) or are not resource scopes at all."""
    context, slash, rest = text.partition("/")
    if not slash or context not in tuple(Context):
        return None
    resource_type, dot, permissions = rest.partition(".")
    if not dot or not resource_type:
        return None
    permissions = permissions.split("?", 1)[0]  # v2 query constraints are not supported
    letters = _V1.get(permissions, permissions)
    if (
        not letters
        or any(ch not in "cruds" for ch in letters)
        or letters != "".join(ch for ch in "cruds" if ch in letters)
    ):
        return None
    return Grant(Context(context), resource_type, frozenset(Interaction(ch) for ch in letters))


def parse_scopes(text: str) -> tuple[Grant, ...]:
    return tuple(g for g in (parse_scope(s) for s in text.split()) if g is not None)


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


def unsupported(resource_type: str, interaction: str) -> DomainError:
    return DomainError(
        ErrorCode.INVALID_INPUT, f"{interaction} is not supported for {resource_type}"
    )
