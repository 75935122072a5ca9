"""Appointment: the platform's booked visits (synchronous, virtual), one per visit.

The visit's status as FHIR's (booked, arrived while under way, fulfilled, cancelled), its slot
as ``start``/``end``, the specialty as ``serviceType``, the purpose as ``appointmentType``
(HL7 v2 table 0276), the patient and the clinician as participants, and the planned modality
(video or audio-only) as an extension: R4 has no ``virtualService``, so the
``urn:telehealth:fhir:virtual-modality`` extension says how the visit is held. The join links
and their tokens are never part of the resource (they are credentials, issued one at a time to
their holder).

What Encounter shares with it (reading and listing visits for a search) is here too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from telehealth.access import loader
from telehealth.fhir.model import (
    SPECIALTY_SYSTEM,
    Resource,
    Search,
    date_bounds,
    fetched_page,
    identifier,
    instant,
    meta,
    named_ids,
    reference,
)
from telehealth.fhir.registry import Emitted, Page, Param, ResourceType
from telehealth.identity.model import specialty_words
from telehealth.scope import Scope
from telehealth.visits import access as visit_access
from telehealth.visits.model import AUDIO_ONLY, AUDIO_VIDEO, VisitFilter, VisitStatus

if TYPE_CHECKING:
    from telehealth.visits.tables import Visit

KIND = "visit"
MODALITY_SYSTEM = "urn:telehealth:modality"
VIRTUAL_MODALITY = "urn:telehealth:fhir:virtual-modality"
APPOINTMENT_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0276"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"

# A visit's status as an Appointment's. A visit under way is one whose patient has arrived;
# the platform records no no-shows (a booked visit nobody joined stays booked).
APPOINTMENT_STATUS: dict[str, str] = {
    VisitStatus.BOOKED.value: "booked",
    VisitStatus.IN_PROGRESS.value: "arrived",
    VisitStatus.COMPLETED.value: "fulfilled",
    VisitStatus.CANCELLED.value: "cancelled",
}
MODALITY_DISPLAY = {AUDIO_VIDEO: "Video visit", AUDIO_ONLY: "Audio-only visit"}
# The visit's purpose (what the rules decided on) as an appointment type.
PURPOSE_TYPE = {"follow_up": ("FOLLOWUP", "A follow up visit from a previous appointment")}
ROUTINE = ("ROUTINE", "Routine appointment - default if not valued")


def modality_coding(modality: str) -> Resource:
    coding: Resource = {"system": MODALITY_SYSTEM, "code": modality}
    if modality in MODALITY_DISPLAY:
        coding["display"] = MODALITY_DISPLAY[modality]
    return coding


def service_type(visit: Visit) -> list[Resource]:
    specialty = (visit.intake or {}).get("specialty")
    if not isinstance(specialty, str) or not specialty:
        return []
    coding = {"system": SPECIALTY_SYSTEM, "code": specialty}
    return [{"coding": [coding], "text": specialty_words(specialty)}]


def appointment_resource(visit: Visit) -> Resource:
    purpose = (visit.intake or {}).get("purpose")
    code, display = PURPOSE_TYPE.get(purpose if isinstance(purpose, str) else "", ROUTINE)
    resource: Resource = {
        "resourceType": "Appointment",
        "id": str(visit.id),
        "meta": meta(visit.version, visit.updated_at),
        "extension": [
            {"url": VIRTUAL_MODALITY, "valueCoding": modality_coding(visit.planned_modality)}
        ],
        "identifier": [identifier("visit", str(visit.id))],
        "status": APPOINTMENT_STATUS[visit.status],
        "appointmentType": {
            "coding": [{"system": APPOINTMENT_TYPE, "code": code, "display": display}]
        },
        "start": instant(visit.slot_start),
        "end": instant(visit.slot_end),
        "minutesDuration": max(1, int((visit.slot_end - visit.slot_start).total_seconds() // 60)),
        "created": instant(visit.created_at),
        "participant": [
            {
                "actor": reference("Patient", visit.patient_id),
                "required": "required",
                "status": "accepted",
            },
            {
                "type": [{"coding": [{"system": PARTICIPATION_TYPE, "code": "PPRF"}]}],
                "actor": reference("Practitioner", visit.clinician_id),
                "required": "required",
                "status": "accepted",
            },
        ],
    }
    services = service_type(visit)
    if services:
        resource["serviceType"] = services
    return resource


def emitted_visit(resource: Resource, visit: Visit) -> Emitted:
    named = visit_access.visit_subject(visit).named
    return Emitted(resource, KIND, visit.id, visit.patient_id, named)


def load_visit(scope: Scope, visit_id: uuid.UUID) -> Visit:
    """A visit through the visits' loader: another patient's answers as a missing one."""
    return loader.load(scope, visit_access.VISIT, visit_id)


def read(scope: Scope, visit_id: uuid.UUID) -> Emitted:
    visit = load_visit(scope, visit_id)
    return emitted_visit(appointment_resource(visit), visit)


# --- searching visits ---------------------------------------------------------------------


def visit_filter(query: Search, statuses: dict[str, str], by_start: bool) -> VisitFilter | None:
    """A search as a visit filter (``statuses``: FHIR status -> the visit's; dates are the
    slot's, or the session's start when ``by_start``); None when it can match nothing."""
    ids = named_ids(query, "_id")
    patients = named_ids(query, "patient", "Patient")
    clinicians = named_ids(query, "practitioner", "Practitioner")
    wanted: list[str] | None = None
    if "status" in query.params:
        wanted = [statuses[t.code] for t in query.tokens("status") if t.code in statuses]
    if [] in (ids, patients, clinicians, wanted):
        return None
    start, end = date_bounds(query, "date")
    newest_first = False
    if query.sort:
        newest_first = query.sort[0].startswith("-")
    return VisitFilter(
        ids=ids,
        patient_ids=patients,
        clinician_ids=clinicians,
        statuses=wanted,
        slot_from=None if by_start else start,
        slot_before=None if by_start else end,
        started_from=start if by_start else None,
        started_before=end if by_start else None,
        by_start=by_start,
        newest_first=newest_first,
    )


def visit_page(scope: Scope, query: Search, where: VisitFilter) -> tuple[list[Visit], bool]:
    """One page of the visits the actor may read that match; audited by the FHIR core as it
    emits them."""
    found = visit_access.readable_visits(
        scope, limit=query.count + 1, offset=query.offset, where=where, record=False
    )
    return fetched_page(found, query)


def search(scope: Scope, query: Search) -> Page:
    where = visit_filter(query, {v: k for k, v in APPOINTMENT_STATUS.items()}, by_start=False)
    if where is None:
        return Page((), False, 0)
    visits, more = visit_page(scope, query, where)
    return Page([emitted_visit(appointment_resource(v), v) for v in visits], more)


def status_param(statuses: Sequence[str]) -> str:
    return "status: " + ", ".join(statuses)


APPOINTMENT = ResourceType(
    name="Appointment",
    read=read,
    search=search,
    params=(
        Param("patient", "reference", "the patient's visits (Patient/<id>)"),
        Param("practitioner", "reference", "the visits of a clinician (Practitioner/<id>)"),
        Param("date", "date", "the slot's start, with prefixes"),
        Param("status", "token", status_param(list(APPOINTMENT_STATUS.values()))),
    ),
    sorts=("date",),
    documentation="Visits the credential's user may read (the access rules of the native API)",
)
