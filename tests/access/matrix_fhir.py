"""Access-matrix entries for the FHIR API (merged into tests/access/test_matrix.py).

A read answers whoever may read the resource's object on the native API, and a 404
OperationOutcome, identical to a missing resource's, to everyone else; a search answers every
signed-in actor with what they may read. Observations are created by a monitoring device's
token, as readings are ingested natively: a person's credential is not one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from telehealth.monitoring.tables import Reading
from tests.access.audience import PATIENT_READERS, SIGNED_IN
from tests.access.audience import Audience as A
from tests.access.matrix import Entry, patient_a_id
from tests.access.matrix_monitoring import _objects as monitoring_objects
from tests.support import World, scope_for


def _reading_of_patient_a(world: World) -> str:
    """A heart-rate reading of patient A's monitoring (built through ingestion)."""
    enrollment = monitoring_objects(world).enrollment
    with scope_for(world.settings, world.clock) as scope:
        found = scope.session.execute(
            select(Reading.id)
            .where(Reading.enrollment_id == enrollment, Reading.code == "8867-4")
            .limit(1)
        ).scalar_one()
    return f"/fhir/R4/Observation/{found}"


def _of_patient_a(path: str) -> Any:
    return lambda w: f"{path}?patient=Patient/{patient_a_id(w)}"


ENTRIES: dict[tuple[str, str], Entry] = {
    ("GET", "/fhir/R4/metadata"): Entry(A.ANYONE | SIGNED_IN),
    ("GET", "/fhir/R4/Patient/{resource_id}"): Entry(
        PATIENT_READERS, target=lambda w: f"/fhir/R4/Patient/{patient_a_id(w)}"
    ),
    ("GET", "/fhir/R4/Patient"): Entry(SIGNED_IN),
    ("POST", "/fhir/R4/Patient/_search"): Entry(SIGNED_IN, body={}, form=True),
    ("GET", "/fhir/R4/Observation/{resource_id}"): Entry(
        PATIENT_READERS, target=_reading_of_patient_a
    ),
    ("GET", "/fhir/R4/Observation"): Entry(SIGNED_IN, target=_of_patient_a("/fhir/R4/Observation")),
    ("POST", "/fhir/R4/Observation/_search"): Entry(
        SIGNED_IN, body=lambda w: {"patient": f"Patient/{patient_a_id(w)}"}, form=True
    ),
    # Created by a device token for one device, never a user credential (as ingestion).
    ("POST", "/fhir/R4/Observation"): Entry(A.DEVICE),
    ("GET", "/fhir/R4/Device/{resource_id}"): Entry(
        PATIENT_READERS, target=lambda w: f"/fhir/R4/Device/{monitoring_objects(w).device}"
    ),
    ("GET", "/fhir/R4/Device"): Entry(SIGNED_IN, target=_of_patient_a("/fhir/R4/Device")),
    ("POST", "/fhir/R4/Device/_search"): Entry(
        SIGNED_IN, body=lambda w: {"patient": f"Patient/{patient_a_id(w)}"}, form=True
    ),
}
