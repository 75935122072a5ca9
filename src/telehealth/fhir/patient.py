"""Patient: the platform's patient records, US Core shaped (record number as identifier,
name, administrative gender, birth date, home state, managing organization)."""

from __future__ import annotations

import uuid

from telehealth.access import service as access
from telehealth.fhir.model import (
    Resource,
    Search,
    fetched_page,
    identifier,
    meta,
    named_ids,
    reference,
)
from telehealth.fhir.registry import Emitted, Page, Param, ResourceType
from telehealth.identity.queries import Patient
from telehealth.scope import Scope

US_CORE_PATIENT = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"
GENDERS = frozenset({"female", "male", "other", "unknown"})


def patient_resource(patient: Patient) -> Resource:
    resource: Resource = {
        "resourceType": "Patient",
        "id": str(patient.id),
        "meta": meta(patient.version, patient.updated_at, (US_CORE_PATIENT,)),
        "identifier": [
            {
                **identifier("record-number", patient.record_number),
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "code": "MR",
                        }
                    ]
                },
            }
        ],
        "active": True,
        "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}],
        "gender": patient.sex or "unknown",
        "birthDate": patient.birth_date.isoformat(),
        "address": [{"state": patient.home_state, "country": "US"}],
        "managingOrganization": reference("Organization", patient.org_id),
    }
    if patient.phone:
        resource["telecom"] = [{"system": "phone", "value": patient.phone}]
    return resource


def emitted(patient: Patient) -> Emitted:
    return Emitted(patient_resource(patient), "patient", patient.id, patient.id)


def read(scope: Scope, patient_id: uuid.UUID) -> Emitted:
    return emitted(access.readable_patient(scope, patient_id))


def search(scope: Scope, query: Search) -> Page:
    where = patient_filter(query)
    if where is None:
        return Page((), False, 0)
    found = access.readable_patients(scope, limit=query.count + 1, offset=query.offset, where=where)
    page, more = fetched_page(found, query)
    return Page([emitted(p) for p in page], more)


def patient_filter(query: Search) -> access.PatientFilter | None:
    """The search as a patient filter; None when it can match nothing (an id or identifier
    of no record of this server)."""
    ids = named_ids(query, "_id")
    if ids == [] and query.values("_id"):
        return None
    numbers: list[str] | None = None
    if "identifier" in query.params:
        numbers = [t.code for t in query.tokens("identifier") if t.code is not None]
    genders = query.values("gender")
    born = query.dates("birthdate")
    return access.PatientFilter(
        ids=ids,
        family=query.one("family"),
        given=query.one("given"),
        name=query.one("name"),
        born_from=born.start.date() if born and born.start else None,
        born_before=born.end.date() if born and born.end else None,
        sexes=[g for g in genders if g in GENDERS] if genders else None,
        record_numbers=numbers,
    )


PATIENT = ResourceType(
    name="Patient",
    read=read,
    search=search,
    params=(
        Param("identifier", "token", "the record number staff quote"),
        Param("name", "string", "family or given name, from its start"),
        Param("family", "string", "family name, from its start"),
        Param("given", "string", "given name, from its start"),
        Param("birthdate", "date", "date of birth, with prefixes"),
        Param("gender", "token", "administrative gender"),
    ),
    profiles=(US_CORE_PATIENT,),
    documentation="Patients the credential's user may read (the access rules of the native API)",
)
