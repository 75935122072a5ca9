"""Encounter: a visit that took place (under way or ended), US Core Encounter shaped.

A visit becomes an encounter when its patient is admitted into the call: class ``VR``
(virtual), its status (in progress, finished), the session's period (from the patient's
admission to the end of the visit, as the session record and the billed minutes measure it),
the clinician as primary performer, the patient, the Appointment it fulfils (the same id), the
specialty, the chosen E/M level as its CPT type, and the modality actually used over time as
``urn:telehealth:fhir:modality-segment`` extensions (video or audio-only, each with its
period). A booked or cancelled visit has no encounter. Store-and-forward reviews are not
served as encounters yet.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from telehealth.errors import not_found
from telehealth.fhir.appointment import (
    PARTICIPATION_TYPE,
    appointment_resource,
    emitted_visit,
    load_visit,
    modality_coding,
    service_type,
    status_param,
    visit_filter,
    visit_page,
)
from telehealth.fhir.model import CPT, Resource, Search, identifier, instant, meta, reference
from telehealth.fhir.registry import Emitted, Page, Param, ResourceType
from telehealth.scope import Scope
from telehealth.visits import session_record
from telehealth.visits.model import VisitStatus

if TYPE_CHECKING:
    from telehealth.visits.tables import Visit

US_CORE_ENCOUNTER = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-encounter"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
UCUM = "http://unitsofmeasure.org"
MODALITY_SEGMENT = "urn:telehealth:fhir:modality-segment"
VIRTUAL = {"system": ACT_CODE, "code": "VR", "display": "virtual"}
# A visit's status as an Encounter's; visits in no other status are encounters.
ENCOUNTER_STATUS: dict[str, str] = {
    VisitStatus.IN_PROGRESS.value: "in-progress",
    VisitStatus.COMPLETED.value: "finished",
}
INCLUDE_APPOINTMENT = "Encounter:appointment"


def encounter_resource(scope: Scope, visit: Visit) -> Resource:
    if visit.started_at is None:
        raise ValueError("a visit that has not started is no encounter")
    period: Resource = {"start": instant(visit.started_at)}
    if visit.ended_at is not None:
        period["end"] = instant(visit.ended_at)
    kind: Resource = {"text": "Telehealth visit"}
    if visit.em_code:
        kind["coding"] = [{"system": CPT, "code": visit.em_code}]
    resource: Resource = {
        "resourceType": "Encounter",
        "id": str(visit.id),
        "meta": meta(visit.version, visit.updated_at, (US_CORE_ENCOUNTER,)),
    }
    segments = [
        {
            "url": MODALITY_SEGMENT,
            "extension": [
                {"url": "modality", "valueCoding": modality_coding(s.modality)},
                {"url": "period", "valuePeriod": _period(s.start, s.end)},
            ],
        }
        for s in session_record.session_segments(scope, visit)
    ]
    if segments:
        resource["extension"] = segments
    resource.update(
        {
            "identifier": [identifier("visit", str(visit.id))],
            "status": ENCOUNTER_STATUS[visit.status],
            "class": VIRTUAL,
            "type": [kind],
            "subject": reference("Patient", visit.patient_id),
            "participant": [
                {
                    "type": [{"coding": [{"system": PARTICIPATION_TYPE, "code": "PPRF"}]}],
                    "individual": reference("Practitioner", visit.clinician_id),
                }
            ],
            "appointment": [reference("Appointment", visit.id)],
            "period": period,
            "serviceProvider": reference("Organization", visit.org_id),
        }
    )
    minutes = session_record.session_minutes(visit)
    if minutes is not None:
        resource["length"] = {"value": minutes, "unit": "min", "system": UCUM, "code": "min"}
    services = service_type(visit)
    if services:
        resource["serviceType"] = services[0]
    return resource


def _period(start: datetime, end: datetime | None) -> Resource:
    out: Resource = {"start": instant(start)}
    if end is not None:
        out["end"] = instant(end)
    return out


def read(scope: Scope, visit_id: uuid.UUID) -> Emitted:
    visit = load_visit(scope, visit_id)
    if visit.status not in ENCOUNTER_STATUS or visit.started_at is None:
        # A visit that has not taken place is no encounter: answered as a missing one.
        raise not_found("visit")
    return emitted_visit(encounter_resource(scope, visit), visit)


def search(scope: Scope, query: Search) -> Page:
    where = visit_filter(query, {v: k for k, v in ENCOUNTER_STATUS.items()}, by_start=True)
    classes = query.tokens("class")
    if classes and not any(t.matches(ACT_CODE, "VR") for t in classes):
        where = None
    if where is None:
        return Page((), False, 0)
    if where.statuses is None:
        where = replace(where, statuses=list(ENCOUNTER_STATUS))
    visits, more = visit_page(scope, query, where)
    matches = [emitted_visit(encounter_resource(scope, v), v) for v in visits]
    included: list[Emitted] = []
    if INCLUDE_APPOINTMENT in query.include:
        included = [emitted_visit(appointment_resource(v), v) for v in visits]
    return Page(matches, more, included=included)


ENCOUNTER = ResourceType(
    name="Encounter",
    read=read,
    search=search,
    params=(
        Param("patient", "reference", "the patient's encounters (Patient/<id>)"),
        Param("practitioner", "reference", "the encounters of a clinician (Practitioner/<id>)"),
        Param("date", "date", "when the encounter began, with prefixes"),
        Param("status", "token", status_param(list(ENCOUNTER_STATUS.values()))),
        Param("class", "token", "the encounter class: VR (virtual) for every visit"),
    ),
    sorts=("date",),
    includes=(INCLUDE_APPOINTMENT,),
    profiles=(US_CORE_ENCOUNTER,),
    documentation="Visits that took place, which the credential's user may read",
)
