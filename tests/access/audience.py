"""Who a route is for, and what each kind of actor must therefore get from it.

A matrix row names its route's audience (``PATIENT_SELF | CARE_TEAM | ORG_MANAGERS``); every
actor kind carries the audiences it belongs to, and :func:`expected` derives its outcome in the
order the routes refuse (docs/adr/0013-refusal-order.md): allowed when the two meet; a 403 for
an actor whose role can never take the action (``roles``), whatever the id; for an object
route, 404 for an actor who may not know the object exists (``seen_by``), exactly as for a
missing one; otherwise a 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, Flag, auto


class Audience(Flag):
    # Relations to patient A and to patient A's organization.
    PATIENT_SELF = auto()
    CARE_TEAM = auto()
    BREAK_GLASS = auto()  # a clinician of the organization with an active grant on the patient
    ORG_COORDINATOR = auto()
    ORG_ADMIN = auto()
    ORG_MEMBER = auto()  # anyone of patient A's organization
    # Roles, in whichever organization.
    PATIENTS = auto()
    CLINICIANS = auto()
    COORDINATORS = auto()
    ADMINS = auto()
    # Credentials no person holds: a device token, a visit join link, the metrics token.
    DEVICE = auto()
    JOIN_LINK = auto()
    SCRAPER = auto()
    # Signed out, and the pages' sign-in.
    ANYONE = auto()


NOBODY = Audience(0)
SIGNED_IN = Audience.PATIENTS | Audience.CLINICIANS | Audience.COORDINATORS | Audience.ADMINS
STAFF = Audience.CLINICIANS | Audience.COORDINATORS | Audience.ADMINS
MANAGERS = Audience.COORDINATORS | Audience.ADMINS  # each of their own organization
ORG_MANAGERS = Audience.ORG_COORDINATOR | Audience.ORG_ADMIN
PATIENT_READERS = Audience.PATIENT_SELF | Audience.CARE_TEAM | Audience.BREAK_GLASS | ORG_MANAGERS
STAFF_READERS = Audience.CARE_TEAM | Audience.BREAK_GLASS | ORG_MANAGERS
# What ties a clinician to the patient for good (access.policy.may_start_care): the patient,
# a clinician already caring for them, a coordinator of their organization.
STARTS_CARE = Audience.PATIENT_SELF | Audience.CARE_TEAM | Audience.ORG_COORDINATOR


@dataclass(frozen=True)
class ActorKind:
    name: str
    person: str  # the key of its person in the seeded world (seed_world(every_actor_kind=True))
    audiences: Audience


ACTOR_KINDS: tuple[ActorKind, ...] = (
    ActorKind(
        "own_patient",
        "patient_a",
        Audience.PATIENT_SELF | Audience.ORG_MEMBER | Audience.PATIENTS,
    ),
    ActorKind("same_org_other_patient", "patient_b", Audience.ORG_MEMBER | Audience.PATIENTS),
    ActorKind("other_org_patient", "other_patient", Audience.PATIENTS),
    ActorKind(
        "caring_clinician",
        "clinician_a",
        Audience.CARE_TEAM | Audience.ORG_MEMBER | Audience.CLINICIANS,
    ),
    ActorKind(
        "same_org_non_caring_clinician",
        "clinician_x",
        Audience.ORG_MEMBER | Audience.CLINICIANS,
    ),
    ActorKind("other_org_clinician", "other_clinician", Audience.CLINICIANS),
    ActorKind(
        "coordinator",
        "coordinator",
        Audience.ORG_COORDINATOR | Audience.ORG_MEMBER | Audience.COORDINATORS,
    ),
    ActorKind("other_org_coordinator", "other_coordinator", Audience.COORDINATORS),
    ActorKind("admin", "admin", Audience.ORG_ADMIN | Audience.ORG_MEMBER | Audience.ADMINS),
    ActorKind("other_org_admin", "other_admin", Audience.ADMINS),
    ActorKind(
        "active_break_glass_clinician",
        "clinician_glass",
        Audience.BREAK_GLASS | Audience.ORG_MEMBER | Audience.CLINICIANS,
    ),
    ActorKind(
        "expired_break_glass_clinician",
        "clinician_glass_expired",
        Audience.ORG_MEMBER | Audience.CLINICIANS,
    ),
)


class Outcome(Enum):
    ALLOWED = "allowed"  # 2xx (or a page's redirect after a form)
    HIDDEN = "hidden"  # 404, byte for byte the answer for a missing object
    REFUSED = "refused"  # 403: the object is no secret to them, the action is not theirs
    UNAUTHENTICATED = "unauthenticated"  # 401: the route takes a credential no person holds


def expected(
    kind: ActorKind,
    audience: Audience,
    seen_by: Audience | None,
    roles: Audience | None = None,
) -> Outcome:
    """``seen_by`` is who may know a route's object exists (None for a route without one);
    ``roles`` the roles that may ever take the action (None when the route does not refuse by
    role before it looks the object up)."""
    if kind.audiences & audience:
        return Outcome.ALLOWED
    if audience & (Audience.DEVICE | Audience.JOIN_LINK | Audience.SCRAPER):
        return Outcome.UNAUTHENTICATED
    if refused_by_role(kind, roles):
        return Outcome.REFUSED
    if seen_by is not None and not kind.audiences & seen_by:
        return Outcome.HIDDEN
    return Outcome.REFUSED


def refused_by_role(kind: ActorKind, roles: Audience | None) -> bool:
    """Whether the actor's role can never take the action: refused before any lookup, the same
    for every id, existing, missing or another organization's (so no existence oracle)."""
    return roles is not None and not kind.audiences & roles
