"""Access-matrix entries for the FHIR API (merged into tests/access/test_matrix.py).

A read answers whoever may read the resource's object on the native API, and a 404
OperationOutcome, identical to a missing resource's, to everyone else; a search answers every
signed-in actor with what they may read.
"""

from __future__ import annotations

from telehealth.fhir.charge import charge_id
from telehealth.review import service as review
from tests.access.audience import PATIENT_READERS, SIGNED_IN, STAFF_READERS
from tests.access.audience import Audience as A
from tests.access.matrix import Entry, patient_a_id
from tests.review.support import acting, add_media, build_case, signed_report_id
from tests.support import World, services_for


def _case(world: World) -> str:
    return f"/fhir/R4/ServiceRequest/{build_case(world, 'claimed')}"


def _report(world: World) -> str:
    return f"/fhir/R4/DiagnosticReport/{signed_report_id(world, build_case(world, 'signed'))}"


def _document(prefix: str):  # type: ignore[no-untyped-def]
    def target(world: World) -> str:
        return f"/fhir/R4/{prefix}/{add_media(world, build_case(world, 'queued'))}"

    return target


def _review_line(world: World) -> str:
    case_id = build_case(world, "signed")
    with services_for(world) as services, acting(services, world["clinician_a"]) as scope:
        billing = review.case_view(scope, case_id, record_read=False).billing[0]
    return f"/fhir/R4/ChargeItem/{charge_id(billing.id, 0)}"


def _searches(name: str) -> dict[tuple[str, str], Entry]:
    return {
        ("GET", f"/fhir/R4/{name}"): Entry(SIGNED_IN),
        ("POST", f"/fhir/R4/{name}/_search"): Entry(SIGNED_IN, body={}, form=True),
    }


ENTRIES: dict[tuple[str, str], Entry] = {
    ("GET", "/fhir/R4/metadata"): Entry(A.ANYONE | SIGNED_IN),
    ("GET", "/fhir/R4/Patient/{resource_id}"): Entry(
        PATIENT_READERS, target=lambda w: f"/fhir/R4/Patient/{patient_a_id(w)}"
    ),
    ("GET", "/fhir/R4/Patient"): Entry(SIGNED_IN),
    ("POST", "/fhir/R4/Patient/_search"): Entry(SIGNED_IN, body={}, form=True),
    # Store-and-forward: a case, its signed report and its files answer the case's readers.
    ("GET", "/fhir/R4/ServiceRequest/{resource_id}"): Entry(PATIENT_READERS, target=_case),
    **_searches("ServiceRequest"),
    ("GET", "/fhir/R4/DiagnosticReport/{resource_id}"): Entry(PATIENT_READERS, target=_report),
    **_searches("DiagnosticReport"),
    ("GET", "/fhir/R4/DocumentReference/{resource_id}"): Entry(
        PATIENT_READERS, target=_document("DocumentReference")
    ),
    **_searches("DocumentReference"),
    # A document's content: the native download's audience.
    ("GET", "/fhir/R4/Binary/{resource_id}"): Entry(PATIENT_READERS, target=_document("Binary")),
    # A review's billing lines: staff who may read the case (the case shows them billing); its
    # patient, who reads the case, is refused. A visit's lines answer the visit's readers
    # (tests/fhir/test_charge_item.py).
    ("GET", "/fhir/R4/ChargeItem/{resource_id}"): Entry(STAFF_READERS, target=_review_line),
    **_searches("ChargeItem"),
}
