"""The access-matrix vocabulary shared by every capability's entries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support import World

Target = Callable[[World], str]


@dataclass(frozen=True)
class Entry:
    """How a route is reached: its audience and, for object routes, patient A's object."""

    # public | page_public | page | self | org_member | org_manager | admin | staff |
    # patient_object
    audience: str
    target: Target | None = None  # builds the path to patient A's object
    body: dict[str, Any] | None = None
    allowed: tuple[str, ...] = field(default_factory=tuple)  # actors that must succeed


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
