"""The access-matrix vocabulary shared by every capability's entries."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telehealth.access import service as access
from telehealth.identity import queries as identity_queries
from telehealth.identity import service as identity
from telehealth.identity.model import Actor, CareSource, CredentialKind, Role
from tests.access.audience import PATIENT_READERS, Audience
from tests.support import World, scope_for

Target = Callable[[World], str]
Body = dict[str, Any] | Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Entry:
    """One row of the access matrix: a route's audience and how to reach its object.

    The outcome every actor kind must get is derived from ``audience``, ``roles`` and
    ``seen_by`` (tests/access/audience.py) and asserted by a request per actor kind.
    """

    audience: Audience
    # Builds the path to the route's object: patient A's, or patient A's organization's.
    target: Target | None = None
    # A fresh body per call where two allowed calls must not collide (unique names).
    body: Body | None = None
    # Who may know the object exists; by default whoever may read patient A's record.
    seen_by: Audience = PATIENT_READERS
    # The roles that may ever take the action, where the route refuses every other role (403)
    # before it looks the object up; None where the object is looked up first.
    roles: Audience | None = None
    page: bool = False
    form: bool = False  # the body is sent as an HTML form, not JSON
    # The call changes the object: each actor kind gets one of its own.
    fresh: bool = False
    # The action uses its object up (ends it, revokes it): after the first allowed call
    # succeeds, another allowed actor passes the access check and meets the state's 409.
    once: bool = False
    # Why requests per actor kind cannot show this route's outcomes (its own tests do).
    not_probed: str | None = None
    # Today's code disagrees with the audience: the row is expected to fail, strictly.
    disagrees: str | None = None
    # Headers the route needs besides the credential (FHIR's Prefer: respond-async).
    headers: dict[str, str] | None = None

    def body_for_call(self, world: World) -> dict[str, Any] | None:
        return self.body(world) if callable(self.body) else self.body


def page(audience: Audience, target: Target | None = None, **extra: Any) -> Entry:
    return Entry(audience, target, page=True, **extra)


def form(audience: Audience, target: Target, body: Body, **extra: Any) -> Entry:
    """A page's form post, signed in by bearer token (the origin check is for cookies)."""
    return Entry(audience, target, body, page=True, form=True, **extra)


def patient_a_id(world: World) -> str:
    return str(world["patient_a"].patient_id)


SAMPLE_FACTS: dict[str, Any] = {
    "date_of_service": "2026-12-01",
    "patient": {
        "location_state": "TX",
        "setting": "home",
        "payer": "commercial",
        "established": True,
        "last_in_person_visit": None,
        "video_capable": True,
        "consents_to_video": True,
    },
    "clinician": {
        "licenses": [{"state": "TX", "kind": "full"}],
        "dea_registrations": [],
        "specialty": "dermatology",
        "video_capable": True,
    },
    "encounter": {
        "specialty": "dermatology",
        "acuity": "routine",
        "purpose": "follow_up",
        "controlled_substance": None,
    },
}


def decision_for_patient_a(world: World) -> str:
    """A stored decision linked to patient A, made by the clinician caring for A."""
    from telehealth.identity.model import Actor, CredentialKind, Role
    from telehealth.policy.service import decide_and_record
    from tests.support import scope_for

    clinician = world["clinician_a"]
    with scope_for(world.settings, world.clock) as scope:
        scope.act_as(
            Actor(
                clinician.user_id, Role.CLINICIAN, world.org_id, None, True, CredentialKind.SYSTEM
            )
        )
        _, record = decide_and_record(scope, SAMPLE_FACTS, patient_id=world["patient_a"].patient_id)
    return str(record.id)


def clinician_a(world: World) -> str:
    return f"/v1/clinicians/{world['clinician_a'].user_id}"


def _new_user(world: World, role: Role) -> uuid.UUID:
    with scope_for(world.settings, world.clock) as scope:
        created = identity.create_user(
            scope,
            org_id=world.org_id,
            email=f"{role.value}-{uuid.uuid4().hex[:8]}@example.test",
            role=role,
            display_name="Matrix",
            password=None,
        )
        return created.user.id


def new_user(world: World) -> uuid.UUID:
    """A throwaway clinician of patient A's organization, for calls that change a user."""
    return _new_user(world, Role.CLINICIAN)


def new_staff(_world: World) -> dict[str, Any]:
    return {
        "email": f"staff-{uuid.uuid4().hex[:8]}@example.test",
        "display_name": "New",
        "role": "clinician",
    }


def new_patient(_world: World) -> dict[str, Any]:
    return {
        "given_name": "New",
        "family_name": "Patient",
        "birth_date": "1980-01-01",
        "home_state": "TX",
    }


def another_clinician(world: World) -> dict[str, Any]:
    """A clinician joining patient A's care team: a new one, so the cast keeps its relations."""
    return {"clinician_id": str(_new_user(world, Role.CLINICIAN))}


def care_team_member(world: World) -> str:
    """A new clinician on patient A's care team, as the path that ends the membership."""
    clinician = _new_user(world, Role.CLINICIAN)
    patient_id = world["patient_a"].patient_id
    assert patient_id is not None
    with scope_for(world.settings, world.clock) as scope:
        identity.assign_care(
            scope, clinician, patient_id, source=CareSource.COORDINATOR, granted_by=None
        )
    return f"/v1/patients/{patient_id}/care-team/{clinician}"


def patient_a_version(world: World) -> dict[str, Any]:
    """A demographics change at the version patient A's record has now."""
    with scope_for(world.settings, world.clock) as scope:
        patient = identity_queries.patient_by_id(scope.session, world["patient_a"].patient_id)  # type: ignore[arg-type]
        assert patient is not None
        return {"phone": "555-0100", "version": patient.version}


def new_grant(world: World) -> uuid.UUID:
    """An unreviewed break-glass grant on patient A, taken by a new clinician."""
    clinician = _new_user(world, Role.CLINICIAN)
    with scope_for(world.settings, world.clock) as scope:
        scope.act_as(
            Actor(clinician, Role.CLINICIAN, world.org_id, None, True, CredentialKind.SYSTEM)
        )
        patient_id = world["patient_a"].patient_id
        assert patient_id is not None
        return access.break_glass(scope, patient_id, "Unconscious patient in the emergency room").id


def dea_number(_world: World) -> dict[str, Any]:
    """A DEA registration with a valid check digit and a number of its own."""
    digits = [int(d) for d in f"{uuid.uuid4().int % 10**6:06d}"]
    check = (digits[0] + digits[2] + digits[4] + 2 * (digits[1] + digits[3] + digits[5])) % 10
    number = "AB" + "".join(map(str, digits)) + str(check)
    return {"state": "TX", "number": number, "schedules": ["II"]}
