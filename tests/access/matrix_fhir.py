"""Access-matrix entries for the FHIR API (merged into tests/access/test_matrix.py).

A read answers whoever may read the resource's object on the native API, and a 404
OperationOutcome, identical to a missing resource's, to everyone else; a search answers every
signed-in actor with what they may read.
"""

from __future__ import annotations

import uuid

from telehealth.fhir import bulk
from telehealth.identity.model import Actor, CredentialKind, Role
from tests.access.audience import MANAGERS, ORG_MANAGERS, PATIENT_READERS, SIGNED_IN
from tests.access.audience import Audience as A
from tests.access.matrix import Entry, patient_a_id
from tests.support import World, scope_for

PREFER = {"Prefer": "respond-async"}


def coordinator_export(world: World, *, run: bool = False) -> uuid.UUID:
    """A bulk export of patient A's organization asked for by its coordinator (run when
    ``run``): an export is its requester's alone."""
    coordinator = world["coordinator"]
    actor = Actor(
        coordinator.user_id, Role.COORDINATOR, world.org_id, None, True, CredentialKind.SYSTEM
    )
    with scope_for(world.settings, world.clock, world.ports) as scope:
        scope.act_as(actor)
        asked = bulk.Asked("Patient", None, None, "respond-async", "/fhir/R4/Patient/$export")
        export_id = bulk.kick_off(scope, asked).id
    if run:
        with scope_for(world.settings, world.clock, world.ports) as scope:
            bulk.run_export(scope, export_id)
    return export_id


def export_status(world: World) -> str:
    return f"/fhir/R4/bulkstatus/{coordinator_export(world)}"


def export_file(world: World) -> str:
    export_id = coordinator_export(world, run=True)
    with scope_for(world.settings, world.clock, world.ports) as scope:
        scope.act_as(
            Actor(
                world["coordinator"].user_id,
                Role.COORDINATOR,
                world.org_id,
                None,
                True,
                CredentialKind.SYSTEM,
            )
        )
        found = bulk.status(scope, export_id, "")
    assert isinstance(found, dict)
    return f"/fhir/R4{found['output'][0]['url']}"


ENTRIES: dict[tuple[str, str], Entry] = {
    ("GET", "/fhir/R4/metadata"): Entry(A.ANYONE | SIGNED_IN),
    ("GET", "/fhir/R4/Patient/{resource_id}"): Entry(
        PATIENT_READERS, target=lambda w: f"/fhir/R4/Patient/{patient_a_id(w)}"
    ),
    ("GET", "/fhir/R4/Patient"): Entry(SIGNED_IN),
    ("POST", "/fhir/R4/Patient/_search"): Entry(SIGNED_IN, body={}, form=True),
    # Bulk Data: coordinators and administrators export their own organization; an export is
    # its requester's alone (404 to anyone else, as for a missing one).
    ("GET", "/fhir/R4/Patient/$export"): Entry(MANAGERS, headers=PREFER),
    ("GET", "/fhir/R4/Group/{group_id}/$export"): Entry(
        ORG_MANAGERS,
        target=lambda w: f"/fhir/R4/Group/{w.org_id}/$export",
        seen_by=A.ORG_MEMBER,
        roles=MANAGERS,
        headers=PREFER,
    ),
    ("GET", "/fhir/R4/bulkstatus/{export_id}"): Entry(
        A.ORG_COORDINATOR, target=export_status, seen_by=A.ORG_COORDINATOR
    ),
    ("DELETE", "/fhir/R4/bulkstatus/{export_id}"): Entry(
        A.ORG_COORDINATOR, target=export_status, seen_by=A.ORG_COORDINATOR, fresh=True
    ),
    ("GET", "/fhir/R4/bulkfiles/{export_id}/{file_id}"): Entry(
        A.ORG_COORDINATOR, target=export_file, seen_by=A.ORG_COORDINATOR
    ),
}
