"""Access-matrix entries for the FHIR API (merged into tests/access/test_matrix.py).

A read answers whoever may read the resource's object on the native API, and a 404
OperationOutcome, identical to a missing resource's, to everyone else; a search answers every
signed-in actor with what they may read.
"""

from __future__ import annotations

from tests.access.audience import PATIENT_READERS, SIGNED_IN
from tests.access.audience import Audience as A
from tests.access.matrix import Entry, patient_a_id

ENTRIES: dict[tuple[str, str], Entry] = {
    ("GET", "/fhir/R4/metadata"): Entry(A.ANYONE | SIGNED_IN),
    ("GET", "/fhir/R4/Patient/{resource_id}"): Entry(
        PATIENT_READERS, target=lambda w: f"/fhir/R4/Patient/{patient_a_id(w)}"
    ),
    ("GET", "/fhir/R4/Patient"): Entry(SIGNED_IN),
    ("POST", "/fhir/R4/Patient/_search"): Entry(SIGNED_IN, body={}, form=True),
}
