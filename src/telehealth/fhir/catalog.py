"""The resource types the FHIR API serves, in the CapabilityStatement's order."""

from __future__ import annotations

from telehealth.fhir.charge import CHARGE_ITEM
from telehealth.fhir.document import DOCUMENT_REFERENCE
from telehealth.fhir.patient import PATIENT
from telehealth.fhir.registry import ResourceType
from telehealth.fhir.report import DIAGNOSTIC_REPORT
from telehealth.fhir.service_request import SERVICE_REQUEST

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    PATIENT,
    SERVICE_REQUEST,
    DIAGNOSTIC_REPORT,
    DOCUMENT_REFERENCE,
    CHARGE_ITEM,
)


def by_name(name: str) -> ResourceType | None:
    return next((kind for kind in RESOURCE_TYPES if kind.name == name), None)
